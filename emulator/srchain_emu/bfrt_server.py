"""BF Runtime gRPC server of the emulated Tofino: the `BfRuntime` service of
contracts/srchain_contracts/bfrt/bfruntime.proto as the SDE serves it (docs/emulator.md, "BF Runtime").

Subscribe on StreamChannel, BIND before Read/Write, Get/SetForwardingPipelineConfig with
WARM_INIT_STARTED/FINISHED pushed on the stream, Write INSERT/MODIFY/DELETE(empty key = all)/
INSERT_OR_MODIFY with CONTINUE_ON_ERROR / ROLLBACK_ON_ERROR / DATAPLANE_ATOMIC, Read of one entry, all
entries, default entries, registers and counters, digests pushed as DigestList and acked.
The "program binary" is the emulator bundle (`tofino.bin` = preprocessed P4 source, see bundle.py).
This module is the protocol (sessions, stream, request decoding/encoding, token, status codes); the device
it drives (programs, tables' state, packet path) is bfrt_device.py.
"""

from __future__ import annotations

import dataclasses
import hmac
import itertools
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass
from typing import TypeAlias

import grpc
from google.rpc import code_pb2, status_pb2

from srchain_contracts.bfrt import bfruntime_pb2 as pb
from srchain_contracts.bfrt import bfruntime_pb2_grpc as pb_grpc

from . import bfrt_device as D
from . import dynhash_tables, mirror_cfg
from . import idletime as I
from .bfrt_device import Device, DeviceError, Program, TableMap
from .bfrt_schema import (
    ACTION_MEMBER_ID,
    ACTION_MEMBER_STATUS_ID,
    COUNTER_BYTES_ID,
    COUNTER_PKTS_ID,
    LPF_INDEX_ID,
    LPF_SPEC,
    MATCH_PRIORITY_ID,
    MAX_GROUP_SIZE_ID,
    METER_SPEC_IDS,
    PORT_METADATA_PORT_ID,
    SELECTOR_GROUP_ID,
    WRED_INDEX_ID,
    WRED_SPEC,
)
from .device_tables import PIPE_ALL
from .device_tables import Unsupported as DeviceUnsupported
from .device_tables import Value as DeviceValue
from .frontend.errors import P4Error
from .interp import runtime as R
from .interp.pipeline import MAX_PIPES, DigestMessage, Pipeline
from .pktgen import APP_CFG_ID, PKT_BUFFER_ID, PORT_CFG_ID, PktgenError, PktgenUnsupported
from .pktgen import WIDTH as PKTGEN_WIDTH
from .pre import BOOL_ARRAYS, FIELDS
from .pre import SCHEMAS as PRE_SCHEMAS
from .pre import Unsupported as PreUnsupported

log = logging.getLogger(__name__)
UpdateType: TypeAlias = pb.Update.Type.ValueType  # int at run time; mypy-protobuf's enum type for the checker

NON_P4_INFO = {"tables": [mirror_cfg.schema()]}


# Table kinds whose state is per pipe, read and written for the request's pipe_id (a match table only for its
# DirectRegister cells; its entries are the same in every pipe).
PER_PIPE_KINDS = frozenset({"match", "register", "counter", "meter", "lpf", "wred"})


# A byte meter's largest rate and burst as a Tofino 1 reads them back (1.27 GHz clock, the mantissa/exponent
# encoding): what an unset spec (bf-rt.json's 2^64-1) or anything above reads as (tna_meter_lpf_wred's
# DirectMeterDefaultSpecTest / IndirectMeterIteratorTest). Packet meters read back as written (not verified).
TOFINO1_MAX_KBPS, TOFINO1_MAX_KBITS = 5195848221, 4380866642


def _meter_as_read(unit: str, spec: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    if unit != "BYTES":
        return spec
    cir, pir, cbs, pbs = spec
    return (min(cir, TOFINO1_MAX_KBPS), min(pir, TOFINO1_MAX_KBPS), min(cbs, TOFINO1_MAX_KBITS),
            min(pbs, TOFINO1_MAX_KBITS))


class RpcFailure(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class BatchFailure(RpcFailure):
    """Failed updates of a Write (entities of a Read), answered as the SDE's BfRtServerErrorReporter does
    (bf_rt_server_impl.hpp): status UNKNOWN, and in its binary details (a google.rpc.Status, trailer
    `grpc-status-details-bin`) one bfrt_proto.Error per update up to the last failed one — OK for those that
    succeeded — each failed one with its own canonical code. The SDE client's BfruntimeReadWriteRpcException
    reads nothing else (sub_errors_get)."""

    def __init__(self, what: str, errors: list[tuple[int, Exception]], suffix: str = "") -> None:
        self.errors = [(i, _code_for(e), str(e)) for i, e in errors]
        text = "; ".join(f"{'entity' if what == 'Read' else 'update'} {i}: {m}" for i, _, m in self.errors)
        super().__init__(grpc.StatusCode.UNKNOWN, f"{what} Error Status: {text}{suffix}")

    def details(self) -> bytes:
        st = status_pb2.Status(code=code_pb2.UNKNOWN, message=self.message)
        done = 0
        for idx, code, msg in self.errors:
            for _ in range(done, idx):
                st.details.add().Pack(pb.Error(canonical_code=code_pb2.OK))
            st.details.add().Pack(pb.Error(canonical_code=code.value[0], message=msg))
            done = idx + 1
        return st.SerializeToString()


def _abort(context: grpc.ServicerContext, code: grpc.StatusCode, message: str, exc: Exception | None = None) -> None:
    if isinstance(exc, BatchFailure):
        context.set_trailing_metadata((("grpc-status-details-bin", exc.details()),))
    context.abort(code, message)


def _flags(context: grpc.ServicerContext) -> frozenset[str]:
    """The SDE client's per-call metadata switches set to 1 (`error_in_resp`, `ignore_not_found`)."""
    return frozenset(k for k, v in context.invocation_metadata() if k in ("error_in_resp", "ignore_not_found")
                     and str(v).strip() == "1")


def _write_deadline(context: grpc.ServicerContext, now: float) -> float | None:
    """The SDE client's `deadline_sec` / `deadline_nsec` metadata (bf_rt_server_impl.cpp processClientMetadata): a
    Write must be served by `now` + that, or it stops before its next update; None without them, or when one is
    out of range (the SDE then sets no deadline at all)."""
    md = {k: str(v) for k, v in context.invocation_metadata() if k in ("deadline_sec", "deadline_nsec")}
    if not md:
        return None
    try:
        sec, nsec = int(md.get("deadline_sec", 0)), int(md.get("deadline_nsec", 0))
    except ValueError:
        return None
    if sec < 0 or not 0 <= nsec <= 999_999_999:
        return None
    return now + sec + nsec / 1e9


def _code_for(exc: Exception) -> grpc.StatusCode:
    if isinstance(exc, RpcFailure):
        return exc.code
    if isinstance(exc, DeviceError):
        return grpc.StatusCode[exc.code]
    if isinstance(exc, R.EntryExists):
        return grpc.StatusCode.ALREADY_EXISTS
    if isinstance(exc, R.EntryNotFound):
        return grpc.StatusCode.NOT_FOUND
    if isinstance(exc, R.TableFull):
        return grpc.StatusCode.RESOURCE_EXHAUSTED
    if isinstance(exc, R.ConstTable):
        return grpc.StatusCode.PERMISSION_DENIED
    if isinstance(exc, PreUnsupported | DeviceUnsupported):
        return grpc.StatusCode.UNIMPLEMENTED
    return grpc.StatusCode.INVALID_ARGUMENT


_BYTES = {"uint8": 1, "uint16": 2, "uint32": 4}
PKTGEN_IDS = (PORT_CFG_ID, APP_CFG_ID, PKT_BUFFER_ID)


def _to_int(b: bytes) -> int:
    return int.from_bytes(b, "big")


def _to_bytes(v: int, width: int) -> bytes:
    return v.to_bytes((width + 7) // 8, "big")


@dataclass
class _Client:
    client_id: int
    device_id: int
    out: queue.Queue[pb.StreamMessageResponse]
    learn: bool
    bound: str | None = None
    idle: bool = False  # enable_idletimeout_notifications
    entry_active: bool = False  # enable_entry_active_notifications (ENTRY_ACTIVE as well as ENTRY_IDLE)


class BfRuntimeServer(pb_grpc.BfRuntimeServicer):
    """The servicer; `serve()` below wraps it in a grpc.Server."""

    def __init__(self, device_id: int = 0, token: str | None = None, num_pipes: int = MAX_PIPES) -> None:
        self.device_id = device_id
        self.token = token
        self.clock: Callable[[], float] = time.monotonic  # what Write deadlines are measured on (tests inject one)
        self.dev = Device(num_pipes)
        self.dev.on_digests = self._push_digests
        self.lock = self.dev.lock  # guards programs, all pipeline state and the sessions below
        self._target = pb.TargetDevice(pipe_id=PIPE_ALL)  # the request being served's target (under the lock)
        self.device = self.dev.tables  # $PORT, tf1.tm.port.*: device state that outlives program pushes
        self.clients: dict[int, _Client] = {}
        self.list_ids = itertools.count(1)
        self.unacked: dict[tuple[int, int], int] = {}  # (digest_id, list_id) -> client id
        self._idle_thread: threading.Thread | None = None  # notify-mode idle-time sweeps, while a table needs them
        # The packet path is the device's (bound, not wrapped: the data plane calls these per batch).
        self.ingress = self.dev.ingress
        self.ingress_many = self.dev.ingress_many
        self.ingress_stamped = self.dev.ingress_stamped
        self.egress = self.dev.egress
        self.egress_many = self.dev.egress_many
        self.take_egress_mirrors = self.dev.take_egress_mirrors
        self.process = self.dev.process
        self.stats = self.dev.stats

    @property
    def programs(self) -> dict[str, Program]:
        return self.dev.programs

    def install(self, name: str, pipeline: Pipeline) -> None:
        """Load a program at start-up (what bf_switchd does with its conf file)."""
        prof = pb.ForwardingPipelineConfig.Profile(profile_name=pipeline.compiled.pipe_name,
                                                   pipe_scope=list(range(self.dev.num_pipes)))
        self.dev.install(name, pipeline, [prof])

    # ------------------------------------------------------------ helpers
    def _pipe(self, pipe: int, what: str) -> int | None:
        """A request's target pipe_id for per-pipe state: None for all pipes (0xFFFF), else one pipe."""
        if pipe == PIPE_ALL:
            return None
        if not 0 <= pipe < self.dev.num_pipes:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT,
                             f"{what}: pipe_id {pipe:#x} is neither a pipe of 0..{self.dev.num_pipes - 1} "
                             "nor 0xffff (all pipes)")
        return pipe

    def _check_token(self, context: grpc.ServicerContext) -> None:
        if self.token is None:
            return
        md = dict(context.invocation_metadata())
        if not hmac.compare_digest(str(md.get("x-srchain-token", "")).encode(), self.token.encode()):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong x-srchain-token")

    def _guard(self, context: grpc.ServicerContext, fn: Callable[[], object]) -> object:
        self._check_token(context)
        try:
            return fn()
        except (RpcFailure, DeviceError) as exc:
            _abort(context, _code_for(exc), exc.message, exc)
        except (R.ConfigError, P4Error) as exc:
            context.abort(_code_for(exc), str(exc))
        return None

    def _bound_program(self, client_id: int, p4_name: str) -> Program:
        """The program a Read/Write acts on. As bf_rt_server_impl.cpp's Read and Write: a request naming a
        program gets that program of the device, bound or not (getBfRtInfoIndependent; the SDE's PTF set-up
        reads tf1.dev.device_configuration this way before it binds); one without a name gets the client's."""
        if p4_name:
            named = self.programs.get(p4_name)
            if named is None:
                raise RpcFailure(grpc.StatusCode.NOT_FOUND, f"Unable to obtain BF_RT info for ({p4_name}): the "
                                 "device has no such program")
            return named
        client = self.clients.get(client_id)
        if client is None or client.bound is None:
            raise RpcFailure(grpc.StatusCode.FAILED_PRECONDITION, f"client {client_id} is not bound to a program")
        prog = self.programs.get(client.bound)
        if prog is None:
            raise RpcFailure(grpc.StatusCode.NOT_FOUND, f"program {client.bound} is not loaded")
        return prog

    def _notify(self, client_id: int, msg: pb.StreamMessageResponse) -> None:
        client = self.clients.get(client_id)
        if client is not None:
            client.out.put(msg)

    # ------------------------------------------------------------ stream
    def StreamChannel(self, request_iterator, context) -> Iterator[pb.StreamMessageResponse]:
        self._check_token(context)
        out: queue.Queue = queue.Queue()
        state: dict[str, int] = {}
        done = threading.Event()

        def reader() -> None:
            try:
                for req in request_iterator:
                    which = req.WhichOneof("update")
                    if which == "subscribe":
                        sub = req.subscribe
                        resp = pb.StreamMessageResponse()
                        resp.subscribe.CopyFrom(sub)
                        if sub.device_id != self.device_id:
                            resp.subscribe.status.CopyFrom(status_pb2.Status(
                                code=code_pb2.NOT_FOUND, message=f"no device {sub.device_id}"))
                        else:
                            with self.lock:
                                old = self.clients.get(req.client_id)
                                note = sub.notifications
                                self.clients[req.client_id] = _Client(
                                    req.client_id, sub.device_id, out, note.enable_learn_notifications,
                                    old.bound if old else None, note.enable_idletimeout_notifications,
                                    note.enable_entry_active_notifications)
                            state["client"] = req.client_id
                            resp.subscribe.status.CopyFrom(status_pb2.Status(code=code_pb2.OK))
                        out.put(resp)
                    elif which == "digest_ack":
                        with self.lock:
                            self.unacked.pop((req.digest_ack.digest_id, req.digest_ack.list_id), None)
            except grpc.RpcError:
                pass
            finally:
                done.set()

        threading.Thread(target=reader, name="bfrt-stream-reader", daemon=True).start()
        try:
            while context.is_active():
                try:
                    yield out.get(timeout=0.1)
                except queue.Empty:
                    if done.is_set() and out.empty():
                        break
        finally:
            cid = state.get("client")
            with self.lock:
                if cid is not None and self.clients.get(cid) is not None and self.clients[cid].out is out:
                    del self.clients[cid]

    # ------------------------------------------------------------ pipeline config
    def SetForwardingPipelineConfig(self, request, context):
        return self._guard(context, lambda: self._set_config(request))

    def _set_config(self, req: pb.SetForwardingPipelineConfigRequest) -> pb.SetForwardingPipelineConfigResponse:
        A = pb.SetForwardingPipelineConfigRequest
        if req.device_id != self.device_id:
            raise RpcFailure(grpc.StatusCode.NOT_FOUND, f"no device {req.device_id}")
        with self.lock:
            client = self.clients.get(req.client_id)
            if client is None:
                raise RpcFailure(grpc.StatusCode.FAILED_PRECONDITION, f"client {req.client_id} has not subscribed")
            if req.action == A.BIND:
                if len(req.config) != 1:
                    raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, "BIND takes exactly one config")
                name = req.config[0].p4_name
                if name not in self.programs:
                    raise RpcFailure(grpc.StatusCode.NOT_FOUND, f"program {name} is not loaded")
                client.bound = name
                return pb.SetForwardingPipelineConfigResponse()
            if req.action == A.RECONCILE_AND_WARM_INIT_END:
                raise RpcFailure(grpc.StatusCode.UNIMPLEMENTED, "RECONCILE_AND_WARM_INIT_END is not implemented")
            if req.action == A.WARM_INIT_END:
                self._push_warm(req.client_id, pb.WARM_INIT_FINISHED)
                return pb.SetForwardingPipelineConfigResponse()
            loaded = [self._load(cfg) for cfg in req.config]  # verify everything before changing anything
            if not loaded:
                raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, "no config given")
            if req.action == A.VERIFY:
                return pb.SetForwardingPipelineConfigResponse()
            self.dev.replace(loaded)
            self._push_warm(req.client_id, pb.WARM_INIT_STARTED)
            if req.action == A.VERIFY_AND_WARM_INIT_BEGIN_AND_END:
                self._push_warm(req.client_id, pb.WARM_INIT_FINISHED)
        return pb.SetForwardingPipelineConfigResponse(set_forwarding_pipeline_config_response_type=pb.WARM_INIT_STARTED)

    def _push_warm(self, client_id: int, kind: pb.SetForwardingPipelineConfigResponseType.ValueType) -> None:
        msg = pb.StreamMessageResponse()
        msg.set_forwarding_pipeline_config_response.set_forwarding_pipeline_config_response_type = kind
        self._notify(client_id, msg)

    def _load(self, cfg: pb.ForwardingPipelineConfig) -> Program:
        if not cfg.p4_name:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, "config without p4_name")
        if len(cfg.profiles) != 1:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, "the emulator runs one pipeline profile per program")
        prof = cfg.profiles[0]
        return self.dev.load(cfg.p4_name, prof.binary, cfg.bfruntime_info or None, [prof])

    def GetForwardingPipelineConfig(self, request, context):
        def get() -> pb.GetForwardingPipelineConfigResponse:
            if request.device_id != self.device_id:
                raise RpcFailure(grpc.StatusCode.NOT_FOUND, f"no device {request.device_id}")
            resp = pb.GetForwardingPipelineConfigResponse()
            with self.lock:
                for prog in self.programs.values():
                    cfg = resp.config.add(p4_name=prog.name, bfruntime_info=prog.bfrt_json)
                    for prof in prog.profiles:
                        cfg.profiles.add().CopyFrom(prof)
            non_p4 = {"tables": [*NON_P4_INFO["tables"], *self.device.schemas(), *PRE_SCHEMAS]}
            resp.non_p4_config.bfruntime_info = json.dumps(non_p4).encode()
            return resp

        return self._guard(context, get)

    # ------------------------------------------------------------ write
    def Write(self, request, context):
        deadline = _write_deadline(context, self.clock())  # from the request's arrival, as the SDE's server
        return self._guard(context, lambda: self._write(request, _flags(context), deadline))

    def _write(self, req: pb.WriteRequest, flags: frozenset[str] = frozenset(),
               deadline: float | None = None) -> pb.WriteResponse:
        with self.lock:
            prog = self._bound_program(req.client_id, req.p4_name)
            with D.one_rebuild_per_batch(self._match_tables(prog, req)):
                return self._write_locked(prog, req, flags, deadline)

    @staticmethod
    def _match_tables(prog: Program, req: pb.WriteRequest) -> list[R.Table]:
        tables: list[R.Table] = []
        for upd in req.updates:
            tm = prog.tables.get(upd.entity.table_entry.table_id)
            if tm is not None and tm.kind == "match" and tm.obj not in tables:
                tables.append(tm.obj)  # type: ignore[arg-type]
        return tables

    def _write_locked(self, prog: Program, req: pb.WriteRequest, flags: frozenset[str] = frozenset(),
                      deadline: float | None = None) -> pb.WriteResponse:
        """`flags`: the SDE's client metadata (bf_rt_server_impl.cpp processClientMetadata): `ignore_not_found`
        makes a keyed DELETE of a missing entry succeed (its status carries code NOT_FOUND), `error_in_resp`
        reports every update's status in the response instead of failing the call. `deadline` (monotonic): past
        it, the Write stops before its next update with DEADLINE_EXCEEDED, as the SDE's server does: a
        ROLLBACK_ON_ERROR batch is undone, otherwise the updates served so far stay."""
        atomic = req.atomicity in (pb.WriteRequest.ROLLBACK_ON_ERROR, pb.WriteRequest.DATAPLANE_ATOMIC)
        undo: list[Callable[[], None]] = []
        errors: list[tuple[int, Exception]] = []
        resp = pb.WriteResponse()
        self._target = req.target  # the whole target, for the tables whose writes name a gress or parser too
        for i, upd in enumerate(req.updates):
            if deadline is not None and self.clock() > deadline:
                if req.atomicity == pb.WriteRequest.ROLLBACK_ON_ERROR:
                    for fn in reversed(undo):
                        fn()
                raise RpcFailure(grpc.StatusCode.DEADLINE_EXCEEDED, f"Write RPC request timed out before the "
                                 f"server could serve update {i} of {len(req.updates)}"
                                 + ("; the batch was rolled back" if req.atomicity == pb.WriteRequest.ROLLBACK_ON_ERROR
                                    else f"; the {i} before it stay"))
            status = resp.status.add(canonical_code=code_pb2.OK)
            try:
                self._apply(prog, upd, undo, req.target.pipe_id)
            except (RpcFailure, R.ConfigError, ValueError, KeyError) as exc:
                if ("ignore_not_found" in flags and upd.type == pb.Update.DELETE and
                        _code_for(exc) == grpc.StatusCode.NOT_FOUND and upd.entity.table_entry.key.fields):
                    status.code = grpc.StatusCode.NOT_FOUND.value[0]
                    continue
                status.canonical_code, status.message = _code_for(exc).value[0], str(exc)
                errors.append((i, exc))
                if atomic:
                    break
        if "error_in_resp" in flags:
            if errors and atomic:
                for fn in reversed(undo):
                    fn()
            return resp
        if errors:
            if atomic:
                for fn in reversed(undo):
                    fn()
            raise BatchFailure("Write", errors, " (batch rolled back)" if atomic else "")
        return pb.WriteResponse()

    def _apply(self, prog: Program, upd: pb.Update, undo: list[Callable[[], None]], pipe: int = 0xFFFF) -> None:
        if upd.entity.WhichOneof("entity") == "table_attribute":
            undo.append(self._apply_attribute(prog, upd.entity.table_attribute, pipe))
            return
        if upd.entity.WhichOneof("entity") == "table_operation":
            undo.append(self._apply_operation(prog, upd.entity.table_operation))
            return
        if upd.entity.WhichOneof("entity") != "table_entry":
            raise RpcFailure(grpc.StatusCode.UNIMPLEMENTED, "only table_entry, table_attribute and table_operation "
                             "updates are supported")
        te = upd.entity.table_entry
        T = pb.Update
        if upd.type not in (T.INSERT, T.MODIFY, T.DELETE, T.INSERT_OR_MODIFY):
            raise RpcFailure(grpc.StatusCode.UNIMPLEMENTED, f"update type {T.Type.Name(upd.type)} is not supported")
        if te.table_id in self.device.tables:
            undo.append(self._apply_device(te, T.Type.Name(upd.type), pipe))
            return
        if te.table_id in PKTGEN_IDS:
            undo.append(self._apply_pktgen(te, T.Type.Name(upd.type), pipe))
            return
        tm = prog.tables.get(te.table_id)
        if tm is None:
            raise RpcFailure(grpc.StatusCode.NOT_FOUND, f"no table with id {te.table_id}")
        if tm.kind == "match":
            table: R.Table = tm.obj  # type: ignore[assignment]
            if te.HasField("entry_tgt"):  # the entry's own target wins over the request's (bf_rt_server_impl.cpp)
                pipe = te.entry_tgt.pipe_id
            if not table.asymmetric:
                if pipe != PIPE_ALL:  # the SDE default: symmetric tables, the same entries in every pipe
                    raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT,
                                     f"table {tm.name} is symmetric (the same entries in every pipe): write it with "
                                     f"pipe_id 0xffff, not {pipe:#x} (or set a per-pipe EntryScope first)")
                self._apply_match(tm, te, upd.type, undo)
                return
            if pipe == PIPE_ALL:
                raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT,
                                 f"table {tm.name} is asymmetric (EntryScope per pipe): write one scope's entries "
                                 "with the pipe_id of a pipe in it, not 0xffff")
            copy = table.copy_of(self._pipe(pipe, tm.name))  # type: ignore[arg-type]
            mine: list[D.Undo] = []
            before = table.select_copy(copy)
            try:
                self._apply_match(tm, te, upd.type, mine)
            finally:
                table.select_copy(before)
            undo.extend(self._in_copy(table, copy, u) for u in mine)
        elif tm.kind == "register":
            self._apply_register(tm, te, upd.type, undo, self._pipe(pipe, tm.name))
        elif tm.kind == "counter":
            self._apply_counter(tm, te, upd.type, undo, self._pipe(pipe, tm.name))
        elif tm.kind == "pre":
            self._apply_pre(prog, te, upd.type, undo)
        elif tm.kind == "meter":
            self._apply_meter(tm, te, upd.type, undo, self._pipe(pipe, tm.name))
        elif tm.kind == "profile":
            self._apply_profile(tm, te, upd.type, undo)
        elif tm.kind == "selector":
            self._apply_selector(tm, te, upd.type, undo, prog)
        elif tm.kind == "portmd":
            self._apply_port_metadata(tm, te, upd.type, undo)
        elif tm.kind == "regparam":
            self._apply_register_param(tm, te, upd.type, undo)
        elif tm.kind in ("lpf", "wred"):
            self._apply_filter(tm, te, upd.type, undo, self._pipe(pipe, tm.name))
        elif tm.kind == "pvs":
            self._apply_value_set(tm, te, upd.type, undo, self._target)
        elif tm.kind in dynhash_tables.KINDS:
            dynhash_tables.apply(tm, te, upd.type, undo)
        else:
            self._apply_mirror(prog, te, upd.type, undo)

    @staticmethod
    def _in_copy(table: R.Table, copy: int, fn: D.Undo) -> D.Undo:
        """`fn` (an undo) run with copy `copy` of an asymmetric table's entries selected."""
        def run() -> None:
            before = table.select_copy(copy)
            try:
                fn()
            finally:
                table.select_copy(before)
        return run

    def _scope(self, tm: TableMap, mode: pb.Mode) -> tuple[tuple[int, ...], tuple[str, int]]:
        """An EntryScope pipe scope as `scope[pipe] = copy`: ALL one copy, SINGLE one per pipe, user-defined one
        per byte of the value (byte i: the pipes of scope i, as the SDE's user_defined_pipe_scope_val)."""
        n = self.dev.num_pipes
        if mode.WhichOneof("scope") == "user_defined":
            value, scope, c = mode.user_defined, [-1] * n, 0
            for i in range(8):
                pipes = [p for p in range(8) if value >> (8 * i + p) & 1]
                if not pipes:
                    continue
                for p in pipes:
                    if p >= n or scope[p] != -1:
                        raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"table {tm.name}: user-defined pipe scope "
                                         f"{value:#x}: pipe {p} is " + ("not a pipe of the device" if p >= n else
                                                                       "in two scopes"))
                    scope[p] = c
                c += 1
            if -1 in scope:
                raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"table {tm.name}: user-defined pipe scope "
                                 f"{value:#x} leaves pipe {scope.index(-1)} out")
            return tuple(scope), ("USER", value)
        if mode.predef == pb.Mode.SINGLE:
            return tuple(range(n)), ("SINGLE", 0)
        return (0,) * n, ("ALL", 0)

    def _attribute_target(self, prog: Program, ta: pb.TableAttribute) -> tuple[TableMap, str]:
        tm = prog.tables.get(ta.table_id)
        if tm is None:
            raise RpcFailure(grpc.StatusCode.NOT_FOUND, f"no table with id {ta.table_id}")
        which = ta.WhichOneof("attribute")
        if which is None:
            raise RpcFailure(grpc.StatusCode.UNIMPLEMENTED, f"table {tm.name}: table attributes other than "
                             "EntryScope, IdleTimeout, MeterByteCountAdjust and DynamicKeyMask are not modelled")
        if which == "dyn_key_mask" and not (tm.kind == "match" and tm.obj.key_mask is not None):  # type: ignore[attr-defined]
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"table {tm.name} is not declared with "
                             "@dynamic_table_key_masks(1): no DynamicKeyMask attribute")
        if which == "idle_table" and not (tm.kind == "match" and tm.obj.idle is not None):  # type: ignore[attr-defined]
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"table {tm.name} is not declared with "
                             "`idle_timeout = true`: no IdleTimeout attribute")
        if which == "byte_count_adj" and not (tm.kind == "meter" or (
                tm.kind == "match" and tm.obj.meter_unit is not None)):  # type: ignore[attr-defined]
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"table {tm.name} has no meter: no "
                             "MeterByteCountAdjust")
        return tm, which

    def _apply_attribute(self, prog: Program, ta: pb.TableAttribute, pipe: int = PIPE_ALL) -> D.Undo:
        """A table attribute write (the SDE client's attribute_*_set). EntryScope: every table of the emulator
        is symmetric (one copy for all pipes, gresses and parsers), so only that scope is accepted; a single-pipe
        or user-defined scope needs per-pipe tables and is refused (UNIMPLEMENTED), not ignored.
        MeterByteCountAdjust: bytes added to each packet's length before a byte meter of the table runs, per pipe
        (the request's pipe, or 0xFFFF: every pipe; tna_meter_bytecount_adjust's PerPipe tests)."""
        tm, which = self._attribute_target(prog, ta)
        if which == "entry_scope":
            es = ta.entry_scope
            if tm.kind == "pvs":
                return self._apply_value_set_scope(prog, tm, es)
            for name in ("gress_scope", "pipe_scope", "prsr_scope"):
                mode = getattr(es, name)
                if name == "pipe_scope" and tm.kind in ("match", "register"):
                    continue  # match tables keep a copy of their entries per scope, registers write per scope
                if es.HasField(name) and (mode.WhichOneof("scope") == "user_defined" or mode.predef != pb.Mode.ALL):
                    raise RpcFailure(grpc.StatusCode.UNIMPLEMENTED, f"table {tm.name}: {name} other than ALL is "
                                     "modelled for the pipe scope of match and register tables only")
            if tm.kind == "register" and es.HasField("pipe_scope"):
                reg_scope, reg_mode = self._scope(tm, es.pipe_scope)
                before = (tm.pipe_scope, tm.scope_mode)
                tm.pipe_scope = None if reg_mode[0] == "ALL" else reg_scope
                tm.scope_mode = reg_mode

                def undo_register_scope() -> None:
                    tm.pipe_scope, tm.scope_mode = before
                return undo_register_scope
            if tm.kind != "match" or not es.HasField("pipe_scope"):
                return lambda: None
            table: R.Table = tm.obj  # type: ignore[assignment]
            scope, mode_rec = self._scope(tm, es.pipe_scope)
            old_scope, old_mode = table.scope, table.scope_mode
            try:
                table.set_scope(scope)
            except R.ConfigError as exc:
                raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
            table.scope_mode = mode_rec

            def undo_scope() -> None:
                table.set_scope(old_scope)
                table.scope_mode = old_mode
            return undo_scope
        if which == "idle_table":
            return self._apply_idle_table(tm, ta.idle_table)
        if which == "dyn_key_mask":
            return self._apply_key_mask(tm, ta.dyn_key_mask)
        adjusts: list[int] = tm.obj.adjusts if tm.kind == "meter" else tm.obj.meter_adjusts  # type: ignore[attr-defined]
        old = list(adjusts)
        p = self._pipe(pipe, tm.name)
        for i in range(len(adjusts)) if p is None else [p]:
            adjusts[i] = ta.byte_count_adj.byte_count_adjust

        def undo_adjust() -> None:
            adjusts[:] = old
        return undo_adjust

    @staticmethod
    def _apply_key_mask(tm: TableMap, dkm: pb.DynKeyMask) -> D.Undo:
        """The DynamicKeyMask attribute (the SDE client's attribute_dyn_key_mask_set): a mask per key field id, as
        many bytes as the field's width needs. As the SDE, a key field the request leaves out gets mask 0 (ignored
        by lookups), and the mask changes only while the table has no entries."""
        table: R.Table = tm.obj  # type: ignore[assignment]
        masks: dict[str, int] = {}
        for f in dkm.fields:
            name = tm.key_ids.get(f.field_id)
            if name is None:
                raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"table {tm.name}: no key field id {f.field_id}")
            if name in masks:
                raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"table {tm.name}: key field {name} masked twice")
            width = next(k.width for k in table.keys if k.name == name)
            if len(f.mask) != (width + 7) // 8:
                raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"table {tm.name}: key field {name} is {width} "
                                 f"bits: its mask takes {(width + 7) // 8} bytes, not {len(f.mask)}")
            masks[name] = _to_int(f.mask)
        old = table.key_mask
        table.set_key_mask(tuple(masks.get(k.name, 0) for k in table.keys))  # ConfigError: INVALID_ARGUMENT

        def undo() -> None:
            table.key_mask = old
        return undo

    def _apply_idle_table(self, tm: TableMap, it: pb.IdleTable) -> D.Undo:
        """The IdleTimeout attribute (the SDE client's attribute_idle_time_set). As the SDE's server, the query
        interval and TTL bounds are kept in notify mode only (poll mode reports 0); enabling notify mode starts
        the sweeps ([idletime.py](idletime.py))."""
        table: R.Table = tm.obj  # type: ignore[assignment]
        idle = table.idle
        assert idle is not None
        notify = it.idle_table_mode == pb.IdleTable.IDLE_TABLE_NOTIFY_MODE
        if notify and it.enable and it.ttl_query_interval == 0:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"table {tm.name}: a notify-mode idle table needs a "
                             "ttl_query_interval above 0 ms")
        old = dataclasses.replace(idle)
        idle.enabled, idle.mode = it.enable, int(it.idle_table_mode)
        idle.query_ms, idle.max_ttl_ms, idle.min_ttl_ms = ((it.ttl_query_interval, it.max_ttl, it.min_ttl) if notify
                                                           else (0, 0, 0))
        idle.next_ns = 0
        if notify and it.enable:
            self._start_idle_sweeps()

        def undo() -> None:
            table.idle = old
        return undo

    def _apply_operation(self, prog: Program, op: pb.TableOperation) -> D.Undo:
        """Table operations, as the program's bf-rt.json lists them for the table (`supported_operations`; the
        SDE's BfRtTable::tableOperationsSupported reads the same list). UpdateHitState: the hit bits of a
        poll-mode idle table into its entries' hit state. SyncCounters (a match table's direct counter) and Sync
        of a Counter table: the hardware counts become the software state that from_hw=False reads return.
        SyncRegisters, Sync of a Register table: registers read the data plane's state either way (nothing to
        copy)."""
        tm = prog.tables.get(op.table_id)
        if tm is None:
            raise RpcFailure(grpc.StatusCode.NOT_FOUND, f"no table with id {op.table_id}")
        kind = op.table_operations_type
        if kind not in tm.operations:
            listed = ", ".join(sorted(tm.operations)) or "none"
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT,
                             f"table {tm.name}: no operation {kind!r} (bf-rt.json lists: {listed})")
        if kind == "UpdateHitState" and tm.kind == "match":
            table: R.Table = tm.obj  # type: ignore[assignment]
            idle = table.idle
            if idle is None or not (idle.enabled and idle.mode == R.IDLE_POLL):
                raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"table {tm.name}: UpdateHitState needs "
                                 "the idle table enabled in poll mode")
            return I.update_hit_state(table)
        if kind == "SyncCounters" and tm.kind == "match":
            return D.sync_direct_counters(tm.obj)  # type: ignore[arg-type]
        if kind == "Sync" and tm.kind == "counter":
            return D.sync_counter(tm.obj)  # type: ignore[arg-type]
        return lambda: None

    def _start_idle_sweeps(self) -> None:
        if self._idle_thread is None or not self._idle_thread.is_alive():
            self._idle_thread = threading.Thread(target=self._idle_sweeps, name="bfrt-idle-time", daemon=True)
            self._idle_thread.start()

    def _idle_sweeps(self) -> None:
        """Runs while some table is in notify mode: each due table swept, its changes sent on the stream."""
        while True:
            time.sleep(I.SWEEP_TICK_S)
            with self.lock:
                active = False
                now = time.monotonic_ns()
                for pname, prog in self.programs.items():
                    for tid, tm in prog.tables.items():
                        idle = tm.obj.idle if tm.kind == "match" else None  # type: ignore[attr-defined]
                        if idle is None or not idle.enabled or idle.mode != R.IDLE_NOTIFY:
                            continue
                        active = True
                        if now < idle.next_ns:
                            continue
                        elapsed = idle.query_ms if idle.next_ns else 0  # the first sweep only clears hit bits
                        idle.next_ns = now + idle.query_ms * 1_000_000
                        for copy, key, entry, to_idle in I.sweep(tm.obj, elapsed):  # type: ignore[arg-type]
                            pipe = tm.obj.scope.index(copy) if tm.obj.asymmetric else PIPE_ALL  # type: ignore[attr-defined]
                            self._notify_idle(pname, tm, tid, key, entry, to_idle, pipe)
                if not active:
                    self._idle_thread = None
                    return

    def _notify_idle(self, pname: str, tm: TableMap, table_id: int, key: tuple, entry: R.Entry,
                     to_idle: bool, pipe: int) -> None:
        """`pipe`: the first pipe of the entry's scope of an asymmetric table, else 0xFFFF."""
        msg = pb.StreamMessageResponse()
        n = msg.idle_timeout_notification
        n.target.device_id, n.target.pipe_id = self.device_id, pipe
        te = self._entry_msg(tm, table_id, entry, key)
        te.ClearField("data")
        n.table_entry.CopyFrom(te)
        n.type = pb.IdleTimeoutNotification.ENTRY_IDLE if to_idle else pb.IdleTimeoutNotification.ENTRY_ACTIVE
        for client in self.clients.values():
            if client.bound == pname and client.idle and (to_idle or client.entry_active):
                client.out.put(msg)

    def _read_attribute(self, prog: Program, ta: pb.TableAttribute, pipe: int = PIPE_ALL) -> pb.TableAttribute:
        tm, which = self._attribute_target(prog, ta)
        out = pb.TableAttribute(table_id=ta.table_id)
        if which == "entry_scope" and tm.kind == "pvs":  # the three scopes as written, with their args
            for name, (kind, value, args) in tm.vs_scope.items():
                m = getattr(out.entry_scope, name)
                if kind == "USER":
                    m.user_defined = value
                else:
                    m.predef = pb.Mode.SINGLE if kind == "SINGLE" else pb.Mode.ALL
                m.args = args
        elif which == "entry_scope":
            for name in ("gress_scope", "pipe_scope", "prsr_scope"):
                getattr(out.entry_scope, name).predef = pb.Mode.ALL
            kind, value = (tm.obj.scope_mode if tm.kind == "match"  # type: ignore[attr-defined]
                           else tm.scope_mode)
            if kind == "SINGLE":
                out.entry_scope.pipe_scope.predef = pb.Mode.SINGLE
            elif kind == "USER":
                out.entry_scope.pipe_scope.user_defined = value
        elif which == "dyn_key_mask":  # every key field's mask, in key order
            table: R.Table = tm.obj  # type: ignore[assignment]
            ids = {name: fid for fid, name in tm.key_ids.items()}
            assert table.key_mask is not None  # _attribute_target: a dynamic-key-mask table
            for k, m in zip(table.keys, table.key_mask, strict=True):
                out.dyn_key_mask.fields.add(field_id=ids[k.name], mask=_to_bytes(m, k.width))
        elif which == "idle_table":
            idle: R.IdleTime = tm.obj.idle  # type: ignore[attr-defined]
            out.idle_table.CopyFrom(pb.IdleTable(ttl_query_interval=idle.query_ms, max_ttl=idle.max_ttl_ms,
                                                 min_ttl=idle.min_ttl_ms, idle_table_mode=idle.mode,  # type: ignore[arg-type]
                                                 enable=idle.enabled))
        else:
            adjusts = tm.obj.adjusts if tm.kind == "meter" else tm.obj.meter_adjusts  # type: ignore[attr-defined]
            p = self._pipe(pipe, tm.name)
            out.byte_count_adj.byte_count_adjust = adjusts[0 if p is None else p]  # 0xFFFF: pipe 0's
        return out

    def _apply_device(self, te: pb.TableEntry, utype: str, pipe: int) -> Callable[[], None]:
        """A fixed table's update; `pipe` is the request's target pipe_id (the TM queue tables need one)."""
        table = self.device.tables[te.table_id]
        if te.is_default_entry and table.keys:  # a keyless table (device_configuration) is its default entry
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"{table.name} has no default entry")
        ids = {k.id for k in table.keys}
        for kf in te.key.fields:
            if kf.field_id not in ids or kf.WhichOneof("match_type") != "exact":
                raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"{table.name}: no exact key field id {kf.field_id}")
        key = tuple(_to_int(kf.exact.value) for kf in sorted(te.key.fields, key=lambda kf: kf.field_id))
        if key and len(key) != len(table.keys):
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"{table.name} key is {', '.join(table.key_names)}")
        values: dict[int, DeviceValue] = {}
        for f in te.data.fields:
            ftype = table.field_by_id(f.field_id)
            which = f.WhichOneof("value")
            if ftype.repeated:
                values[f.field_id] = list(f.int_arr_val.val)
            elif ftype.type == "bool":
                values[f.field_id] = f.bool_val
            elif ftype.type == "string":
                values[f.field_id] = f.str_val
            elif which != "stream":
                raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT,
                                 f"{table.name}: {ftype.name} takes stream, not {which}")
            else:
                values[f.field_id] = _to_int(f.stream)
        return self.device.write(te.table_id, utype, key, values, pipe)

    def _apply_pktgen(self, te: pb.TableEntry, utype: str, pipe: int = PIPE_ALL) -> Callable[[], None]:
        """A tf1.pktgen.* update (pktgen.py): every pipe's generator, whatever the target pipe, but for the app
        counters (one register per pipe: the target pipe's, or every pipe's)."""
        gen = self.device.pktgen
        if te.is_default_entry:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, "the pktgen tables have no default entry")
        key = tuple(_to_int(kf.exact.value) for kf in sorted(te.key.fields, key=lambda kf: kf.field_id))
        values: dict[int, bool | int | bytes] = {}
        try:
            for f in te.data.fields:
                kind = gen.field_kind(te.table_id, f.field_id)
                values[f.field_id] = (f.bool_val if kind == "bool" else bytes(f.stream) if kind == "bytes"
                                      else _to_int(f.stream))
            return gen.write(te.table_id, utype, key, values, te.data.action_id, self._pipe(pipe, "tf1.pktgen.app_cfg"))
        except PktgenUnsupported as exc:
            raise RpcFailure(grpc.StatusCode.UNIMPLEMENTED, str(exc)) from None
        except PktgenError as exc:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None

    def _read_pktgen(self, te: pb.TableEntry, pipe: int = PIPE_ALL) -> list[pb.TableEntry]:
        gen = self.device.pktgen
        want = tuple(_to_int(f.exact.value) for f in sorted(te.key.fields, key=lambda f: f.field_id)) or None
        try:
            rows = gen.read(te.table_id, want, self._pipe(pipe, "tf1.pktgen.app_cfg"))
        except PktgenError as exc:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
        out = []
        for key, values, action_id in rows:
            msg = pb.TableEntry(table_id=te.table_id)
            for kid, kv in enumerate(key, start=1):
                msg.key.fields.add(field_id=kid).exact.value = kv.to_bytes(4, "big")
            msg.data.action_id = action_id
            for fid, v in values.items():
                if isinstance(v, bool):
                    msg.data.fields.add(field_id=fid, bool_val=v)
                elif isinstance(v, bytes):  # the repeated 8-bit buffer: one int per byte, as the SDE reads it back
                    msg.data.fields.add(field_id=fid).int_arr_val.val.extend(v)
                else:
                    width = PKTGEN_WIDTH[gen.field_kind(te.table_id, fid)] // 8
                    msg.data.fields.add(field_id=fid, stream=v.to_bytes(width, "big"))
            out.append(msg)
        return out

    def _read_device(self, te: pb.TableEntry, pipe: int) -> list[pb.TableEntry]:
        table = self.device.tables[te.table_id]
        want = tuple(_to_int(f.exact.value) for f in sorted(te.key.fields, key=lambda f: f.field_id)) or None
        out = []
        try:
            rows = self.device.read(te.table_id, want, pipe)
        except ValueError as exc:  # a bad pipe or key (R.EntryNotFound is a ConfigError: NOT_FOUND)
            raise RpcFailure(_code_for(exc), str(exc)) from None
        for key, values in rows:
            # the SDE client keeps only the entries whose is_default_entry matches what it asked for
            msg = pb.TableEntry(table_id=te.table_id, is_default_entry=te.is_default_entry and not table.keys)
            for k, kv in zip(table.keys, key, strict=True):
                msg.key.fields.add(field_id=k.id).exact.value = kv.to_bytes(_BYTES[k.type], "big")
            for fid, v in values.items():
                fdef = table.field_by_id(fid)
                if isinstance(v, list):
                    f = msg.data.fields.add(field_id=fid)
                    f.int_arr_val.SetInParent()
                    f.int_arr_val.val.extend(v)
                elif isinstance(v, bool):
                    msg.data.fields.add(field_id=fid, bool_val=v)
                elif isinstance(v, str):
                    msg.data.fields.add(field_id=fid, str_val=v)
                else:
                    msg.data.fields.add(field_id=fid, stream=v.to_bytes(_BYTES[fdef.type], "big"))
            out.append(msg)
        return out

    def _key_spec(self, tm: TableMap, key: pb.TableKey) -> tuple[list, int]:
        table: R.Table = tm.obj  # type: ignore[assignment]
        given: dict[str, object] = {}
        priority = 0
        for f in key.fields:
            if f.field_id == MATCH_PRIORITY_ID:
                priority = _to_int(f.exact.value)
                continue
            name = tm.key_ids.get(f.field_id)
            if name is None:
                raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"table {tm.name}: no key field id {f.field_id}")
            which = f.WhichOneof("match_type")
            if which == "exact":
                given[name] = _to_int(f.exact.value)
            elif which == "ternary":
                given[name] = (_to_int(f.ternary.value), _to_int(f.ternary.mask))
            elif which == "lpm":
                given[name] = (_to_int(f.lpm.value), f.lpm.prefix_len)
            elif which == "range":
                given[name] = (_to_int(f.range.low), _to_int(f.range.high))
            else:
                raise RpcFailure(grpc.StatusCode.UNIMPLEMENTED, f"match type {which} is not supported")
        spec = []
        for k in table.keys:
            if k.name not in given:
                if k.match_kind == "ternary":
                    given[k.name] = (0, 0)
                elif k.match_kind == "range":
                    given[k.name] = (0, (1 << k.width) - 1)
                elif k.match_kind == "lpm":
                    given[k.name] = (0, 0)
                else:
                    raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"table {tm.name}: key field {k.name} missing")
            spec.append(given[k.name])
        return spec, priority

    @staticmethod
    def _fixed_fields(data: pb.TableData, fids: set[int]) -> tuple[dict[int, int], pb.TableData]:
        """The $-fields among `fids` (their values) and the rest of `data` (action data)."""
        fixed: dict[int, int] = {}
        rest = pb.TableData(action_id=data.action_id)
        for f in data.fields:
            if f.field_id in fids:
                fixed[f.field_id] = _to_int(f.stream)
            else:
                rest.fields.add().CopyFrom(f)
        return fixed, rest

    @staticmethod
    def _meter_spec(unit: str, fixed: dict[int, int], what: str) -> tuple[int, int, int, int] | None:
        """The four $METER_SPEC_* values (unset ones at the schema's default, unlimited), or None if none given."""
        ids = METER_SPEC_IDS[unit]
        if not any(i in fixed for i in ids):
            return None
        spec = tuple(fixed.get(i, R.METER_UNSET) for i in ids)
        cir, pir = spec[0], spec[1]
        if pir < cir:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT,
                             f"{what}: peak rate {pir} is below the committed rate {cir} (RFC 2698 needs PIR >= CIR)")
        return spec  # type: ignore[return-value]

    def _action_data(self, tm: TableMap, data: pb.TableData, zero_missing: bool = False) -> tuple[str, dict[str, int]]:
        """`zero_missing`: parameters not given are 0, as in the SDE's MODIFY (tableEntryModInternal sets the action
        from the request's data object, whose action spec starts zeroed): a MODIFY that carries only direct
        resource fields ($COUNTER_SPEC_*, $METER_SPEC_*) with the action clears its parameters on a Tofino too."""
        aname = tm.action_ids.get(data.action_id)
        if aname is None:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"table {tm.name}: no action id {data.action_id}")
        ids = tm.data_ids[data.action_id]
        values: dict[str, int] = {}
        for f in data.fields:
            fname = ids.get(f.field_id)
            if fname is None:
                raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT,
                                 f"table {tm.name}: action {aname} has no data field id {f.field_id}")
            values[fname] = _to_int(f.stream)
        if zero_missing:
            for fname in ids.values():
                values.setdefault(fname, 0)
        return aname, values

    def _apply_match(self, tm: TableMap, te: pb.TableEntry, utype: UpdateType, undo: list[D.Undo]) -> None:
        table: R.Table = tm.obj  # type: ignore[assignment]
        T = pb.Update
        if te.is_default_entry:
            action: str | None = None
            values: dict[str, int] = {}
            if utype != T.DELETE and table.profile is not None:  # a member or group, as for its entries
                ids = self._direct_ids(tm, table) | {ACTION_MEMBER_ID, SELECTOR_GROUP_ID}
                named, rest = self._fixed_fields(te.data, ids)
                undo.append(D.set_default_entry(table, self._indirect_entry(tm, table, named, rest)))
                direct = {k: v for k, v in named.items() if k not in (ACTION_MEMBER_ID, SELECTOR_GROUP_ID)}
                if direct:
                    self._apply_direct(tm, table, table.default, direct, {}, undo)
                return
            fixed: dict[int, int] = {}
            if utype != T.DELETE:
                # the default entry has the table's direct resources too (a miss counts and meters)
                fixed, data = self._fixed_fields(te.data, self._direct_ids(tm, table))
                action, values = self._action_data(tm, data)
            undo.append(D.set_default(table, action, values))
            if fixed:
                self._apply_direct(tm, table, table.default, fixed, {}, undo)
            return
        if utype == T.DELETE and not te.key.fields:
            undo.append(D.clear(table))
            return
        spec, priority = self._key_spec(tm, te.key)
        if utype == T.DELETE:
            undo.append(D.delete(table, spec))
            return
        fids = self._direct_ids(tm, table)
        if table.profile is not None:
            fids |= {ACTION_MEMBER_ID, SELECTOR_GROUP_ID}
        idle_fields = {f.field_id: f for f in te.data.fields if f.field_id in (I.ENTRY_TTL_ID, I.ENTRY_HIT_STATE_ID)}
        idle_values: tuple[int | None, bool | None] = (None, None)
        if table.idle is not None and idle_fields:  # taken out before the integer fields (the hit state is a string)
            idle_values = self._idle_fields(tm, table.idle, idle_fields)  # checked before anything is written
            kept = pb.TableData(action_id=te.data.action_id)
            kept.fields.extend(f for f in te.data.fields if f.field_id not in idle_fields)
            te = pb.TableEntry(table_id=te.table_id, key=te.key, data=kept, is_default_entry=te.is_default_entry)
        filt_fields: dict[int, pb.DataField] = {}
        if table.dfilter is not None:  # the filter spec: floats and strings, taken out before the integer fields
            spec_ids = {fid for fid, _, _ in (LPF_SPEC if table.dfilter.kind == "Lpf" else WRED_SPEC)}
            filt_fields = {f.field_id: f for f in te.data.fields if f.field_id in spec_ids}
            kept = pb.TableData(action_id=te.data.action_id)
            kept.fields.extend(f for f in te.data.fields if f.field_id not in spec_ids)
            te = pb.TableEntry(table_id=te.table_id, key=te.key, data=kept, is_default_entry=te.is_default_entry)
        fixed, data = self._fixed_fields(te.data, fids)
        mode = T.Type.Name(utype)
        # tableEntryModInternal: a MODIFY naming no action (an indirect entry: no member or group) changes only the
        # entry's direct resources (counter, meter, LPF/WRED, register, TTL / hit state) and keeps its action
        resources_only = (mode == "MODIFY" and not data.fields and not data.action_id
                          and ACTION_MEMBER_ID not in fixed and SELECTOR_GROUP_ID not in fixed
                          and table.get(spec) is not None)
        if resources_only:
            pass
        elif table.profile is not None:
            undo.append(D.write_indirect(table, spec, priority, self._indirect_entry(tm, table, fixed, data), mode))
        else:
            done = D.write_entry(table, spec, priority, *self._action_data(tm, data, mode == "MODIFY"), mode)
            if done is not None:
                undo.append(done)
        entry = table.get(spec)
        assert entry is not None
        self._apply_direct(tm, table, entry, fixed, filt_fields, undo, meter_always=not resources_only)
        ttl, active = idle_values
        if ttl is not None:
            undo.append(I.set_ttl(entry, ttl))
        if active is not None:
            undo.append(I.set_hit_state(entry, active))

    @staticmethod
    def _idle_fields(tm: TableMap, idle: R.IdleTime, fields: dict[int, pb.DataField]) -> tuple[int | None,
                                                                                                bool | None]:
        """$ENTRY_TTL (notify mode, or idle time not enabled yet) and $ENTRY_HIT_STATE (poll mode; True: ACTIVE)
        of an entry write, checked."""
        ttl: int | None = None
        active: bool | None = None
        poll = idle.enabled and idle.mode == R.IDLE_POLL
        if I.ENTRY_TTL_ID in fields:
            if poll:
                raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"table {tm.name}: the idle table is in poll mode; "
                                 "$ENTRY_TTL does not apply (use $ENTRY_HIT_STATE)")
            ttl = _to_int(fields[I.ENTRY_TTL_ID].stream)
            if ttl >= 1 << 32:
                raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"table {tm.name}: $ENTRY_TTL {ttl} does not fit "
                                 "32 bits")
        if I.ENTRY_HIT_STATE_ID in fields:
            state = fields[I.ENTRY_HIT_STATE_ID].str_val
            if not poll:
                raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"table {tm.name}: $ENTRY_HIT_STATE is written in "
                                 "poll mode only (notify mode ages entries by $ENTRY_TTL)")
            if state not in I.HIT_STATES:
                raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"table {tm.name}: $ENTRY_HIT_STATE {state!r} is "
                                 f"none of {', '.join(I.HIT_STATES)}")
            active = state == "ENTRY_ACTIVE"
        return ttl, active

    @staticmethod
    def _direct_ids(tm: TableMap, table: R.Table) -> set[int]:
        """The data field ids of a match table's direct resources ($COUNTER_SPEC_*, $METER_SPEC_*, register)."""
        fids = {COUNTER_BYTES_ID, COUNTER_PKTS_ID} | set(tm.reg_fields)
        if table.meter_unit is not None:
            fids |= set(METER_SPEC_IDS[table.meter_unit])
        return fids

    def _apply_direct(self, tm: TableMap, table: R.Table, entry: R.Entry, fixed: dict[int, int],
                      filt_fields: dict[int, pb.DataField], undo: list[D.Undo], meter_always: bool = False) -> None:
        """Direct counter, meter, filter and register values of one entry (a match entry or the default)."""
        if (COUNTER_BYTES_ID in fixed or COUNTER_PKTS_ID in fixed) and not table.has_counter:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"table {tm.name} has no direct counter")
        if table.meter_unit is not None and (meter_always or set(METER_SPEC_IDS[table.meter_unit]) & set(fixed)):
            mspec = self._meter_spec(table.meter_unit, fixed, f"table {tm.name}")
            undo.append(D.set_entry_meter(entry, mspec, table.meter_unit == "PACKETS", self.dev.num_pipes))
        if table.dfilter is not None and filt_fields:
            lpf = table.dfilter.kind == "Lpf"
            fspec = self._filter_spec(lpf, filt_fields, f"table {tm.name}")
            n = self.dev.num_pipes
            undo.append(D.set_entry_filter(entry, [R.LpfState(fspec) for _ in range(n)] if lpf
                                           else [R.WredState(fspec) for _ in range(n)]))
        if table.dreg is not None and any(f in fixed for f in tm.reg_fields):
            undo.append(D.write_direct_register(table.dreg, entry, {n: fixed[f] for f, n in tm.reg_fields.items()
                                                                    if f in fixed}))
        if COUNTER_BYTES_ID in fixed or COUNTER_PKTS_ID in fixed:  # hardware and software state alike
            old, old_synced = (entry.pkts, entry.bytes), entry.synced
            entry.pkts = fixed.get(COUNTER_PKTS_ID, entry.pkts)
            entry.bytes = fixed.get(COUNTER_BYTES_ID, entry.bytes)
            entry.synced = (entry.pkts, entry.bytes)

            def undo_counts() -> None:
                D.set_counts(entry, *old)
                entry.synced = old_synced
            undo.append(undo_counts)

    @staticmethod
    def _indirect_entry(tm: TableMap, table: R.Table, fixed: dict[int, int], data: pb.TableData) -> R.Entry:
        """The entry an indirect table's data names: $ACTION_MEMBER_ID or (selector tables) $SELECTOR_GROUP_ID."""
        if data.fields or data.action_id:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT,
                             f"table {tm.name} is indirect: its data is $ACTION_MEMBER_ID"
                             + (" or $SELECTOR_GROUP_ID" if table.selector is not None else "")
                             + ", not an action")
        has_m, has_g = ACTION_MEMBER_ID in fixed, SELECTOR_GROUP_ID in fixed
        if has_g and table.selector is None:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"table {tm.name} has no selector")
        if has_m == has_g:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT,
                             f"table {tm.name}: give exactly one of $ACTION_MEMBER_ID"
                             + (", $SELECTOR_GROUP_ID" if table.selector is not None else ""))
        assert table.profile is not None
        if has_m:
            return table.profile.entry_for(fixed[ACTION_MEMBER_ID])
        assert table.selector is not None
        group = table.selector.groups.get(fixed[SELECTOR_GROUP_ID])
        if group is not None and not group.members:  # getActionState: no member to point the entry at
            raise R.EntryNotFound(f"table {tm.name}: selector group {fixed[SELECTOR_GROUP_ID]} has no members (a "
                                  "match entry cannot refer to an empty group)")
        return table.selector.entry_for(fixed[SELECTOR_GROUP_ID])

    def _apply_meter(self, tm: TableMap, te: pb.TableEntry, utype: UpdateType, undo: list[D.Undo],
                     pipe: int | None) -> None:
        m: R.MeterArray = tm.obj  # type: ignore[assignment]
        if utype == pb.Update.DELETE:
            if te.key.fields:
                raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"meter {m.name}: cells cannot be deleted "
                                 "(DELETE without a key resets every cell)")
            undo.append(D.write_meter(m, None, None, pipe))
            return
        idx = self._index(te, m.size, f"meter {m.name}")
        fixed, rest = self._fixed_fields(te.data, set(METER_SPEC_IDS[m.unit]))
        if rest.fields:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT,
                             f"meter {m.name}: no data field {rest.fields[0].field_id}")
        undo.append(D.write_meter(m, idx, self._meter_spec(m.unit, fixed, f"meter {m.name}"), pipe))

    def _apply_profile(self, tm: TableMap, te: pb.TableEntry, utype: UpdateType, undo: list[D.Undo]) -> None:
        p: R.ActionProfile = tm.obj  # type: ignore[assignment]
        mode = pb.Update.Type.Name(utype)
        if mode == "DELETE" and not te.key.fields:
            for mid in sorted(p.members):
                undo.append(D.write_member(p, mid, None, {}, "DELETE"))
            return
        mid = self._index(te, 1 << 32, f"action profile {p.name}")
        if mode == "DELETE":
            undo.append(D.write_member(p, mid, None, {}, mode))
            return
        aname, values = self._action_data(tm, te.data)
        undo.append(D.write_member(p, mid, aname, values, mode))

    @staticmethod
    def _check_unreferenced(prog: Program, sel: R.ActionSelector, gid: int, what: str) -> None:
        """The SDE refuses to empty or delete a group that match entries point at (BF_ENTRY_REFERENCES_EXIST,
        answered ALREADY_EXISTS)."""
        group = sel.groups.get(gid)
        if group is None:
            return
        for tm in prog.tables.values():
            if tm.kind == "match" and tm.obj.selector is sel and any(  # type: ignore[attr-defined]
                    e.group is group for e in tm.obj.entries.values()):  # type: ignore[attr-defined]
                raise R.EntryExists(f"selector {sel.name}: group {gid} is used by an entry of {tm.name}: cannot "
                                    f"{what} it")

    def _apply_selector(self, tm: TableMap, te: pb.TableEntry, utype: UpdateType, undo: list[D.Undo],
                        prog: Program) -> None:
        sel: R.ActionSelector = tm.obj  # type: ignore[assignment]
        mode = pb.Update.Type.Name(utype)
        if mode == "DELETE" and not te.key.fields:
            for gid in sorted(sel.groups):
                self._check_unreferenced(prog, sel, gid, "delete")
            for gid in sorted(sel.groups):
                undo.append(D.write_group(sel, gid, None, None, None, "DELETE"))
            return
        gid = self._index(te, 1 << 32, f"selector {sel.name}")
        if mode == "DELETE":
            self._check_unreferenced(prog, sel, gid, "delete")
            undo.append(D.write_group(sel, gid, None, None, None, mode))
            return
        members: list[int] = []
        status: list[bool] | None = None
        max_size: int | None = None
        for f in te.data.fields:
            which = f.WhichOneof("value")
            if f.field_id == ACTION_MEMBER_ID and which == "int_arr_val":
                members = list(f.int_arr_val.val)
            elif f.field_id == ACTION_MEMBER_STATUS_ID and which == "bool_arr_val":
                status = list(f.bool_arr_val.val)
            elif f.field_id == MAX_GROUP_SIZE_ID and which == "stream":
                max_size = _to_int(f.stream)
            else:
                raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT,
                                 f"selector {sel.name}: no data field {f.field_id} as {which} "
                                 "($ACTION_MEMBER_ID int_arr_val, $ACTION_MEMBER_STATUS bool_arr_val, "
                                 "$MAX_GROUP_SIZE stream)")
        if not members:
            self._check_unreferenced(prog, sel, gid, "empty")
        undo.append(D.write_group(sel, gid, members, status, max_size, mode))

    def _index(self, te: pb.TableEntry, size: int, what: str) -> int:
        if len(te.key.fields) != 1:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"{what} key is one index field")
        idx = _to_int(te.key.fields[0].exact.value)
        if idx >= size:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"{what} index {idx} out of range 0..{size - 1}")
        return idx

    def _apply_register(self, tm: TableMap, te: pb.TableEntry, utype: UpdateType, undo: list[D.Undo],
                        pipe: int | None) -> None:
        reg: R.RegisterArray = tm.obj  # type: ignore[assignment]
        if utype == pb.Update.DELETE and not te.key.fields:  # tableClear: every cell back to its initial value
            undo.append(D.clear_register(reg, pipe))
            return
        if utype == pb.Update.DELETE:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, "register entries cannot be deleted (DELETE without "
                             "a key resets every cell)")
        idx = self._index(te, reg.size, f"register {reg.name}")
        fields: dict[str, int] = {}
        for f in te.data.fields:
            fname = tm.reg_fields.get(f.field_id)
            if fname is None:
                raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"register {reg.name}: no data field {f.field_id}")
            fields[fname] = _to_int(f.stream)
        if tm.pipe_scope is None:
            pipes = None if pipe is None else [pipe]
        elif pipe is None:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"register {reg.name} is asymmetric (EntryScope): "
                             "written through a pipe of the scope, not 0xffff")
        else:  # every pipe of the target pipe's scope (tna_register RegisterAttributesTest)
            pipes = [q for q, sc in enumerate(tm.pipe_scope) if sc == tm.pipe_scope[pipe]]
        undo.append(D.write_register(reg, idx, fields, pipes))

    @staticmethod
    def _value_set_key(vs: R.ValueSet, key: pb.TableKey) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(masked values, masks), one per field; a field left out is a wildcard (mask 0)."""
        given = {f.field_id: f for f in key.fields}
        values, masks = [], []
        for i, (name, width) in enumerate(vs.fields, start=1):
            f = given.pop(i, None)
            if f is None:
                values.append(0)
                masks.append(0)
                continue
            which = f.WhichOneof("match_type")
            if which == "ternary":
                v, m = _to_int(f.ternary.value), _to_int(f.ternary.mask)
            elif which == "exact":
                v, m = _to_int(f.exact.value), (1 << width) - 1
            else:
                raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"{vs.name}: {name} is a ternary field")
            if v >= 1 << width or m >= 1 << width:
                raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"{vs.name}: {name} does not fit in {width} bits")
            values.append(v & m)
            masks.append(m)
        if given:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"{vs.name}: no key field {min(given)}")
        return tuple(values), tuple(masks)

    def _value_set_copy(self, tm: TableMap, vs: R.ValueSet, target: pb.TargetDevice) -> tuple[int, int]:
        """The copy of a value set a request's target names, checked against its EntryScope as the SDE checks
        it (tna_pvs AttributeTest): a single gress needs the direction, a pipe scope a pipe (the first of its
        scope), a single parser scope the parser id."""
        if tm.vs_scope["gress_scope"][0] == "SINGLE" and target.direction == 0xFF:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"{vs.name} has a single-gress scope: the target "
                             "names the direction, not 0xff (all gresses)")
        pipe = prsr = 0
        if vs.pipe_scope is not None:
            p = self._pipe(target.pipe_id, vs.name)
            if p is None:
                raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"{vs.name} has a pipe scope: the target names "
                                 "a pipe, not 0xffff")
            first = vs.pipe_scope.index(vs.pipe_scope[p])
            if p != first:
                raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"{vs.name}: pipe {p} shares the scope of pipe "
                                 f"{first}, which its entries are written and read through")
            pipe = p
        if vs.prsr_scope is not None:
            if target.prsr_id >= R.PARSERS_PER_PIPE:
                raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"{vs.name} has a single-parser scope: the "
                                 f"target names a parser of 0..{R.PARSERS_PER_PIPE - 1}, not {target.prsr_id:#x}")
            prsr = target.prsr_id
        return vs.copy_key(pipe, prsr)

    def _apply_value_set(self, tm: TableMap, te: pb.TableEntry, utype: UpdateType, undo: list[D.Undo],
                         target: pb.TargetDevice) -> None:
        vs: R.ValueSet = tm.obj  # type: ignore[assignment]
        mode = pb.Update.Type.Name(utype)
        key = None if mode == "DELETE" and not te.key.fields else self._value_set_key(vs, te.key)
        selected = vs.entries
        vs.select(self._value_set_copy(tm, vs, target))
        try:
            undo.append(D.write_value_set(vs, key, mode))
        finally:
            vs.entries = selected

    def _apply_value_set_scope(self, prog: Program, tm: TableMap, es: pb.EntryScope) -> D.Undo:
        """EntryScope of an ingress value set: gress ALL or SINGLE (the set is in one gress either way: a single
        gress only makes writes name it), pipe ALL / SINGLE / user-defined (a copy per scope), parser ALL or
        SINGLE (a copy per parser of the pipe, the parser of a port being its group of 4, as on a Tofino 1)."""
        vs: R.ValueSet = tm.obj  # type: ignore[assignment]
        modes = dict(tm.vs_scope)
        pipe_scope, prsr_scope = vs.pipe_scope, vs.prsr_scope
        for name in ("gress_scope", "pipe_scope", "prsr_scope"):
            if not es.HasField(name):
                continue
            mode: pb.Mode = getattr(es, name)
            user = mode.WhichOneof("scope") == "user_defined"
            if user and name != "pipe_scope":
                raise RpcFailure(grpc.StatusCode.UNIMPLEMENTED, f"{vs.name}: a user-defined {name} is not modelled")
            if name == "pipe_scope":
                scope, (kind, value) = self._scope(tm, mode)
                pipe_scope = None if kind == "ALL" else scope
                modes[name] = (kind, value, mode.args)
            else:
                single = not user and mode.predef == pb.Mode.SINGLE
                modes[name] = ("SINGLE" if single else "ALL", 0, mode.args)
                if name == "prsr_scope":
                    prsr_scope = tuple(range(R.PARSERS_PER_PIPE)) if single else None
        if vs.gress != "ingress" and (pipe_scope is not None or prsr_scope is not None):
            raise RpcFailure(grpc.StatusCode.UNIMPLEMENTED, f"{vs.name}: pipe and parser scopes of an egress value "
                             "set are not modelled")
        before = (vs.pipe_scope, vs.prsr_scope, tm.vs_scope)
        try:
            vs.set_scope(pipe_scope, prsr_scope)
        except R.ConfigError as exc:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
        tm.vs_scope = modes
        pipeline = prog.pipeline
        pipeline.scoped_value_sets = [v for v in pipeline.value_sets.values() if v.scoped]

        def undo() -> None:
            vs.set_scope(before[0], before[1])
            tm.vs_scope = before[2]
            pipeline.scoped_value_sets = [v for v in pipeline.value_sets.values() if v.scoped]
        return undo

    @staticmethod
    def _filter_spec(lpf: bool, fields: dict[int, pb.DataField], what: str) -> tuple:
        """An LPF / WRED spec from its four $*_SPEC_* fields (all mandatory, as bf-rt.json says)."""
        spec_ids = LPF_SPEC if lpf else WRED_SPEC
        missing = [n for fid, n, _ in spec_ids if fid not in fields]
        if missing:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"{what}: missing {', '.join(missing)}")
        out: list[object] = []
        for fid, n, ft in spec_ids:
            f = fields[fid]
            if ft["type"] == "string":
                if f.str_val not in ft["choices"]:
                    raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"{what}: {n} must be one of {ft['choices']}")
                out.append(f.str_val)
            elif ft["type"] == "float":
                if f.float_val < 0:
                    raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"{what}: {n} must not be negative")
                out.append(f.float_val)
            else:
                out.append(_to_int(f.stream))
        if not lpf and (out[1] > out[2] or not 0.0 <= out[3] <= 1.0):  # type: ignore[operator]
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT,
                             f"{what}: needs min threshold <= max threshold and a probability in [0, 1]")
        return tuple(out)

    @staticmethod
    def _filter_fields(msg: pb.TableData, lpf: bool, spec: tuple) -> None:
        for (fid, _n, ft), v in zip(LPF_SPEC if lpf else WRED_SPEC, spec, strict=True):
            if ft["type"] == "string":
                msg.fields.add(field_id=fid, str_val=v)
            elif ft["type"] == "float":
                msg.fields.add(field_id=fid, float_val=v)
            else:
                msg.fields.add(field_id=fid, stream=int(v).to_bytes(4, "big"))

    def _apply_filter(self, tm: TableMap, te: pb.TableEntry, utype: UpdateType, undo: list[D.Undo],
                      pipe: int | None) -> None:
        f: R.LpfArray | R.WredArray = tm.obj  # type: ignore[assignment]
        lpf = tm.kind == "lpf"
        unset = R.LPF_UNSET if lpf else R.WRED_UNSET
        cells: list[list] = f.pipes if pipe is None else [f.pipes[pipe]]
        if utype == pb.Update.DELETE:
            idxs = [self._index(te, f.size, f.name)] if te.key.fields else range(f.size)
            for i in idxs:
                for c in cells:
                    undo.append(D.write_filter_spec(c, i, unset))
            return
        idx = self._index(te, f.size, f.name)
        spec = self._filter_spec(lpf, {x.field_id: x for x in te.data.fields}, f"{f.name}[{idx}]")
        for c in cells:
            undo.append(D.write_filter_spec(c, idx, spec))

    def _apply_register_param(self, tm: TableMap, te: pb.TableEntry, utype: UpdateType, undo: list[D.Undo]) -> None:
        """A RegisterParam is a keyless table: its default entry holds `value` (SDE default_entry_set/reset)."""
        rp: R.RegisterParam = tm.obj  # type: ignore[assignment]
        if te.key.fields:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"{rp.name} has no key (write its default entry)")
        if utype == pb.Update.DELETE:
            undo.append(D.write_register_param(rp, None))
            return
        value: int | None = None
        for f in te.data.fields:
            if f.field_id != 1:
                raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"{rp.name}: no data field {f.field_id}")
            value = _to_int(f.stream)
        if value is None or value >= 1 << rp.width:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"{rp.name}: `value` (bit<{rp.width}>) is mandatory")
        undo.append(D.write_register_param(rp, value))

    def _apply_port_metadata(self, tm: TableMap, te: pb.TableEntry, utype: UpdateType, undo: list[D.Undo]) -> None:
        pm: R.PortMetadata = tm.obj  # type: ignore[assignment]
        mode = pb.Update.Type.Name(utype)
        if mode == "DELETE" and not te.key.fields:
            for port in sorted(pm.values):
                undo.append(D.write_port_metadata(pm, port, None))
            return
        if len(te.key.fields) != 1 or te.key.fields[0].field_id != PORT_METADATA_PORT_ID:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"{pm.name}: the key is ig_intr_md.ingress_port")
        port = _to_int(te.key.fields[0].exact.value)
        if port >= 512:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"{pm.name}: port {port} is not a 9-bit port")
        exists = port in pm.values
        if mode == "DELETE" or (mode == "MODIFY" and not exists):
            if not exists:
                raise R.EntryNotFound(f"{pm.name}: no entry for port {port}")
            undo.append(D.write_port_metadata(pm, port, None))
            return
        if mode == "INSERT" and exists:
            raise R.EntryExists(f"{pm.name}: port {port} already has an entry")
        fields: dict[str, int] = {}
        for f in te.data.fields:
            fname = tm.reg_fields.get(f.field_id)
            if fname is None:
                raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"{pm.name}: no data field {f.field_id}")
            fields[fname] = _to_int(f.stream)
        missing = [n for n, _ in pm.fields if n not in fields]
        if missing:  # bf-rt.json marks every field of the struct mandatory
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"{pm.name}: missing data field(s) {', '.join(missing)}")
        undo.append(D.write_port_metadata(pm, port, fields))

    def _read_port_metadata(self, tm: TableMap, te: pb.TableEntry) -> list[pb.TableEntry]:
        pm: R.PortMetadata = tm.obj  # type: ignore[assignment]
        if te.key.fields:
            port = _to_int(te.key.fields[0].exact.value)
            if port not in pm.values:
                raise R.EntryNotFound(f"{pm.name}: no entry for port {port}")
            ports = [port]
        else:
            ports = sorted(pm.values)
        ids = {n: fid for fid, n in tm.reg_fields.items()}
        widths = dict(pm.fields) or {"$DEFAULT_FIELD": R.PORT_METADATA_BYTES * 8}
        out = []
        for port in ports:
            msg = pb.TableEntry(table_id=te.table_id)
            msg.key.fields.add(field_id=PORT_METADATA_PORT_ID).exact.value = port.to_bytes(2, "big")
            for name, v in pm.get(port).items():
                msg.data.fields.add(field_id=ids[name], stream=_to_bytes(v, widths[name]))
            out.append(msg)
        return out

    def _apply_counter(self, tm: TableMap, te: pb.TableEntry, utype: UpdateType, undo: list[D.Undo],
                       pipe: int | None) -> None:
        c: R.CounterArray = tm.obj  # type: ignore[assignment]
        if utype == pb.Update.DELETE:
            if te.key.fields:
                raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"counter {c.name}: cells cannot be deleted "
                                 "(DELETE without a key zeroes every cell)")
            undo.append(D.clear_counter(c, pipe))  # the SDE client's entry_del(target): tableClear
            return
        idx = self._index(te, c.size, f"counter {c.name}")
        pkts = nbytes = None
        for f in te.data.fields:
            if f.field_id == COUNTER_PKTS_ID:
                pkts = _to_int(f.stream)
            elif f.field_id == COUNTER_BYTES_ID:
                nbytes = _to_int(f.stream)
        undo.append(D.write_counter(c, idx, pkts, nbytes, pipe))

    def _apply_mirror(self, prog: Program, te: pb.TableEntry, utype: UpdateType, undo: list[D.Undo]) -> None:
        if len(te.key.fields) != 1:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, "$mirror.cfg key is $sid")
        sid = _to_int(te.key.fields[0].exact.value)
        base = prog.pipeline.mirror_sessions.get(sid)
        modify = utype in (pb.Update.MODIFY, pb.Update.INSERT_OR_MODIFY) and base is not None

        def session() -> R.MirrorSession:
            try:  # a MODIFY changes the fields it gives (the SDE's data fields are optional), an INSERT starts afresh
                return mirror_cfg.decode(te.data, base if modify else None)
            except mirror_cfg.MirrorCfgError as exc:
                raise RpcFailure(grpc.StatusCode.UNIMPLEMENTED if exc.unsupported else
                                 grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None

        undo.append(D.write_mirror(prog.pipeline.mirror_sessions, sid, pb.Update.Type.Name(utype), session))

    @staticmethod
    def _pre_key(te: pb.TableEntry, name: str) -> int | None:
        if not te.key.fields:
            return None
        if len(te.key.fields) != 1 or te.key.fields[0].field_id != 1 or te.key.fields[0].WhichOneof("match_type") \
                != "exact":
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"{name} key is one exact field (id 1)")
        return _to_int(te.key.fields[0].exact.value)

    def _apply_pre(self, prog: Program, te: pb.TableEntry, utype: UpdateType, undo: list[D.Undo]) -> None:
        """`$pre.node` / `$pre.mgid`: array fields come as int_arr_val / bool_arr_val, the RID as a stream
        (bfruntime.proto DataField; field types of bf_rt_pre_tf1.json)."""
        fields = FIELDS[te.table_id]
        name = prog.tables[te.table_id].name
        if te.is_default_entry:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"{name} has no default entry")
        values: dict[str, int | list[int] | list[bool]] = {}
        for f in te.data.fields:
            fname = fields.get(f.field_id)
            if fname is None:
                raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"{name}: no data field id {f.field_id}")
            which = f.WhichOneof("value")
            want = "bool_arr_val" if fname in BOOL_ARRAYS else "stream" if fname == "$MULTICAST_RID" else "int_arr_val"
            if which != want:
                raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"{name}: {fname} takes {want}, not {which}")
            if which == "bool_arr_val":
                values[fname] = list(f.bool_arr_val.val)
            elif which == "int_arr_val":
                values[fname] = list(f.int_arr_val.val)
            else:
                values[fname] = _to_int(f.stream)
        pre = prog.pre
        undo.append(pre.write(te.table_id, pb.Update.Type.Name(utype), self._pre_key(te, name), values))

    def _read_pre(self, prog: Program, tm: TableMap, te: pb.TableEntry) -> list[pb.TableEntry]:
        by_name = {n: i for i, n in FIELDS[te.table_id].items()}
        out = []
        for key, values in prog.pre.read(te.table_id, self._pre_key(te, tm.name)):
            msg = pb.TableEntry(table_id=te.table_id)
            msg.key.fields.add(field_id=1).exact.value = key.to_bytes(2 if tm.name == "$pre.mgid" else 4, "big")
            for fname, v in values.items():
                f = msg.data.fields.add(field_id=by_name[fname])
                if isinstance(v, int):
                    f.stream = v.to_bytes(2, "big")  # $MULTICAST_RID, uint16
                elif fname in BOOL_ARRAYS:
                    f.bool_arr_val.SetInParent()
                    f.bool_arr_val.val.extend(bool(x) for x in v)
                else:
                    f.int_arr_val.SetInParent()
                    f.int_arr_val.val.extend(v)
            out.append(msg)
        return out

    # ------------------------------------------------------------ read
    def Read(self, request, context):
        errors: list[tuple[int, Exception]] = []
        resp = self._guard(context, lambda: self._read(request, errors))
        if resp is not None and "error_in_resp" in _flags(context):  # every entity's status in the response
            failed = dict(errors)
            for i in range(len(request.entities)):
                e = failed.get(i)
                resp.status.add(canonical_code=_code_for(e).value[0] if e else code_pb2.OK,
                                message=str(e) if e else "")
            errors = []
        if resp is not None:
            yield resp  # what the entities that succeeded read, then the failed ones' errors (as the SDE's Read)
        if errors:
            failure = BatchFailure("Read", errors)
            _abort(context, failure.code, failure.message, failure)

    def _read(self, req: pb.ReadRequest, errors: list[tuple[int, Exception]]) -> pb.ReadResponse:
        resp = pb.ReadResponse()
        with self.lock:
            prog = self._bound_program(req.client_id, req.p4_name)
            self._target = req.target
            for i, ent in enumerate(req.entities):
                try:
                    self._read_entity(prog, ent, req.target.pipe_id, resp)
                except (RpcFailure, DeviceError, R.ConfigError, ValueError, KeyError) as exc:
                    errors.append((i, exc))
        return resp

    def _read_entity(self, prog: Program, ent: pb.Entity, pipe: int, resp: pb.ReadResponse) -> None:
        """One entity's entries into `resp`, all or (on an error) none."""
        kind = ent.WhichOneof("entity")
        if kind == "table_usage":
            resp.entities.add().table_usage.CopyFrom(self._read_usage(prog, ent.table_usage, pipe))
            return
        if kind == "table_attribute":
            resp.entities.add().table_attribute.CopyFrom(self._read_attribute(prog, ent.table_attribute, pipe))
            return
        if kind == "handle":
            resp.entities.add().handle.CopyFrom(self._read_handle(prog, ent.handle, pipe))
            return
        if kind != "table_entry":
            raise RpcFailure(grpc.StatusCode.UNIMPLEMENTED, "only table_entry, table_usage, table_attribute and "
                             "handle reads are supported")
        te = ent.table_entry
        if te.WhichOneof("value") == "handle_id":
            resp.entities.add().table_entry.CopyFrom(
                self._read_by_handle(prog, te, te.entry_tgt.pipe_id if te.HasField("entry_tgt") else pipe))
            return
        if te.table_id in self.device.tables:
            entries = self._read_device(te, pipe)
        elif te.table_id in PKTGEN_IDS:
            entries = self._read_pktgen(te, pipe)
        else:
            tm = prog.tables.get(te.table_id)
            if tm is None:
                raise RpcFailure(grpc.StatusCode.NOT_FOUND, f"no table with id {te.table_id}")
            entries = self._read_table(prog, tm, te, te.entry_tgt.pipe_id if te.HasField("entry_tgt") else pipe)
            if tm.kind == "match" and te.table_flags.key_only:  # keys only (table_read_all with key_only)
                for out in entries:
                    out.ClearField("data")
        for out in entries:
            resp.entities.add().table_entry.CopyFrom(out)

    def _handle_table(self, prog: Program, table_id: int) -> tuple[TableMap, R.Table]:
        tm = prog.tables.get(table_id)
        if tm is None:
            raise RpcFailure(grpc.StatusCode.NOT_FOUND, f"no table with id {table_id}")
        if tm.kind != "match":
            raise RpcFailure(grpc.StatusCode.UNIMPLEMENTED, f"table {tm.name}: entry handles of a {tm.kind} table "
                             "are not modelled (match tables have them)")
        return tm, tm.obj  # type: ignore[return-value]

    def _read_handle(self, prog: Program, req: pb.HandleId, pipe: int) -> pb.HandleId:
        """bf_rt_server_impl.cpp read_handle (tableEntryHandleGet): the handle of the entry with the key, looked
        up in the target pipe's copy of an asymmetric table (0xFFFF: every copy)."""
        if req.WhichOneof("value") != "key":
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, "Invalid key is mandatory for get handle operation.")
        tm, table = self._handle_table(prog, req.table_id)
        spec, _ = self._key_spec(tm, req.key)
        p = self._pipe(pipe, tm.name)
        for c in (range(len(table.copies())) if p is None else [table.copy_of(p)]):
            before = table.select_copy(c)
            try:
                entry = table.get(spec)
            finally:
                table.select_copy(before)
            if entry is not None:
                return pb.HandleId(table_id=req.table_id, handle_id=entry.handle)
        raise R.EntryNotFound(f"Entry not found in table:{tm.name}")

    def _read_by_handle(self, prog: Program, te: pb.TableEntry, pipe: int) -> pb.TableEntry:
        """bf_rt_server_impl.cpp table_read with a handle_id (tableEntryGet / tableEntryKeyGet by handle): the
        entry, its key and (unless key_only) its data; the entry's target is answered when the request named one
        or asked for the key only, as the SDE does (an asymmetric table's entry names its scope's first pipe)."""
        tm, table = self._handle_table(prog, te.table_id)
        if te.handle_id == R.DEFAULT_HANDLE:  # the default entry (of the target pipe's copy)
            p = self._pipe(pipe, tm.name)
            if p is None and table.asymmetric:
                raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"table {tm.name} is asymmetric: its default "
                                 "entries are read per pipe, not with pipe 0xffff")
            before = table.select_copy(0 if p is None else table.copy_of(p))
            try:
                msg = self._entry_msg(tm, te.table_id, table.default, None)
            finally:
                table.select_copy(before)
            msg.is_default_entry = False  # the SDE's table_read answers by handle without the flag (its clients
            return msg  # skip the data of an entry flagged default unless they asked for the default entry)
        found = table.find_handle(te.handle_id)
        if found is None:
            raise R.EntryNotFound(f"Entry not found in table:{tm.name}")
        c, key, entry = found
        p = self._pipe(pipe, tm.name)
        # pipe_mgr: the software state finds a handle through the target the entry was written with (NOT_FOUND
        # otherwise); the hardware read of a pipe outside the entry's scope is an invalid argument
        if p is not None and not te.table_flags.from_hw and (not table.asymmetric or table.scope.index(c) != p):
            raise R.EntryNotFound(f"table {tm.name}: entry handle {te.handle_id} is read from the software state "
                                  f"with pipe {table.scope.index(c) if table.asymmetric else '0xffff'}, not {p}")
        if p is not None and table.copy_of(p) != c:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"table {tm.name}: entry handle {te.handle_id} is "
                             f"not in pipe {p}'s scope")
        before = table.select_copy(c)
        try:
            pipes = list(range(self.dev.num_pipes)) if p is None else [p]
            msg = self._entry_msg(tm, te.table_id, entry, key, pipes, te.table_flags.from_hw)
        finally:
            table.select_copy(before)
        if te.table_flags.key_only:
            msg.ClearField("data")
        if te.HasField("entry_tgt") or te.table_flags.key_only:
            msg.entry_tgt.CopyFrom(pb.TargetDevice(device_id=self.device_id, direction=0xFF, prsr_id=0xFF,
                                                   pipe_id=table.scope.index(c) if table.asymmetric else PIPE_ALL))
        return msg

    def _read_usage(self, prog: Program, req: pb.TableUsage, pipe: int = PIPE_ALL) -> pb.TableUsage:
        """bf_rt_server_impl.cpp read_usage (tableUsageGet): the entries a match table (the default entry not
        counted) or a parser value set holds, an action profile's members, a selector's groups. A symmetric table
        has one copy for all pipes, so any pipe's usage is its count; an asymmetric one counts the pipe's scope
        (0xFFFF: every scope)."""
        tm = prog.tables.get(req.table_id)
        if tm is None:
            raise RpcFailure(grpc.StatusCode.NOT_FOUND, f"no table with id {req.table_id}")
        if tm.kind == "match" and tm.obj.asymmetric:  # type: ignore[attr-defined]
            copies = tm.obj.copies()  # type: ignore[attr-defined]
            p = self._pipe(pipe, tm.name)
            count = sum(map(len, copies)) if p is None else len(copies[tm.obj.copy_of(p)])  # type: ignore[attr-defined]
        elif tm.kind == "pvs" and tm.obj.scoped:  # type: ignore[attr-defined]
            vs: R.ValueSet = tm.obj  # type: ignore[assignment]
            count = (len(vs.all_entries()) if pipe == PIPE_ALL
                     else len(vs.copies.get(self._value_set_copy(tm, vs, self._target), {})))
        elif tm.kind in ("match", "pvs"):
            count = len(tm.obj.entries)  # type: ignore[attr-defined]
        elif tm.kind == "profile":
            count = len(tm.obj.members)  # type: ignore[attr-defined]
        elif tm.kind == "selector":
            count = len(tm.obj.groups)  # type: ignore[attr-defined]
        else:
            raise RpcFailure(grpc.StatusCode.UNIMPLEMENTED, f"table {tm.name}: usage of a {tm.kind} table is not "
                             "modelled (match, action profile and selector tables have it)")
        return pb.TableUsage(table_id=req.table_id, usage=count)

    def _read_table(self, prog: Program, tm: TableMap, te: pb.TableEntry, pipe_id: int = PIPE_ALL
                    ) -> list[pb.TableEntry]:
        """`pipe_id`: per-pipe state (registers, counters, meters, filters) of one pipe, or 0xFFFF all of them:
        a register field reads one value per pipe in pipe order, a counter the sum over the pipes."""
        pipe = self._pipe(pipe_id, tm.name) if tm.kind in PER_PIPE_KINDS else None
        pipes = list(range(self.dev.num_pipes)) if pipe is None else [pipe]
        if tm.kind == "match":
            table: R.Table = tm.obj  # type: ignore[assignment]
            self._check_read_target(tm, table, te, pipe)
            if not table.asymmetric:
                return self._read_match(tm, te, pipes)
            # asymmetric: the scope of the pipe asked for, or (0xFFFF) every scope's entries in turn
            copies = (sorted(set(table.scope)) if pipe_id == PIPE_ALL
                      else [table.copy_of(self._pipe(pipe_id, tm.name))])  # type: ignore[arg-type]
            out: list[pb.TableEntry] = []
            missing = 0
            for c in copies:
                before = table.select_copy(c)
                try:
                    got = self._read_match(tm, te, pipes)
                except R.EntryNotFound:
                    missing += 1
                    if missing == len(copies):
                        raise
                else:  # each entry names its scope's first pipe when the request named an entry target (the
                    # SDE's table_read / table_read_all: "only if the request has entry_tgt")
                    for msg in got if te.HasField("entry_tgt") else ():
                        msg.entry_tgt.CopyFrom(pb.TargetDevice(device_id=self.device_id, pipe_id=table.scope.index(c),
                                                               direction=0xFF, prsr_id=0xFF))
                    out += got
                finally:
                    table.select_copy(before)
            return out
        return self._read_other(prog, tm, te, pipes)

    @staticmethod
    def _check_read_target(tm: TableMap, table: R.Table, te: pb.TableEntry, pipe: int | None) -> None:
        """Which target reads what, as pipe_mgr answers (tna_exact_match ExactGetFromHwAnyPipeTest): an entry by
        key from the software state only through the target its copy was written with (a symmetric table's:
        0xFFFF; an asymmetric one's: the first pipe of the scope), from the hardware (from_hw) through any pipe
        using that copy; an asymmetric table's entry or default entry by key through 0xFFFF: none (each scope
        has its own); reads of every entry are not restricted."""
        by_key = len(te.key.fields) > 0
        if pipe is None:
            if table.asymmetric and te.is_default_entry:
                raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"table {tm.name} is asymmetric: its default "
                                 "entries are read per pipe, not with pipe 0xffff")
            if table.asymmetric and by_key:
                raise R.EntryNotFound(f"table {tm.name} is asymmetric: an entry is read in a pipe of its scope, "
                                      "not with pipe 0xffff")
            return
        if by_key and not te.table_flags.from_hw:
            first = table.scope.index(table.copy_of(pipe)) if table.asymmetric else None
            if first != pipe:
                raise R.EntryNotFound(f"table {tm.name}: pipe {pipe} reads the entry from the hardware only "
                                      f"(from_hw); the software state is read with pipe "
                                      f"{'0xffff' if first is None else first}")

    def _read_match(self, tm: TableMap, te: pb.TableEntry, pipes: list[int]) -> list[pb.TableEntry]:
        """A match table's entries as read (the selected copy of an asymmetric table)."""
        table: R.Table = tm.obj  # type: ignore[assignment]
        if te.is_default_entry:
            return [self._entry_msg(tm, te.table_id, table.default, None)]
        if not te.key.fields:
            only = tm.action_ids.get(te.data.action_id) if te.data.action_id else None  # the SDE's action filter
            return [self._entry_msg(tm, te.table_id, e, k, pipes, te.table_flags.from_hw)
                    for k, e in table.entries.items()
                    if only is None or e.action.name == only]
        spec, _ = self._key_spec(tm, te.key)
        entry = table.get(spec)
        if entry is None:
            raise R.EntryNotFound(f"table {tm.name}: entry not found")
        asked = tm.action_ids.get(te.data.action_id) if te.data.action_id else None
        if asked is not None and asked != entry.action.name:  # a read filtered by another action: the SDE fails
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"table {tm.name}: the entry's action is "
                             f"{entry.action.name}, not {asked}")
        return [self._entry_msg(tm, te.table_id, entry, table._normalise(spec), pipes, te.table_flags.from_hw)]

    def _read_other(self, prog: Program, tm: TableMap, te: pb.TableEntry, pipes: list[int]) -> list[pb.TableEntry]:
        """Entries of the tables other than match tables; `pipes`: the pipes whose per-pipe state is read."""
        pipe = pipes[0] if len(pipes) == 1 else None
        if tm.kind == "register":
            reg: R.RegisterArray = tm.obj  # type: ignore[assignment]
            idxs = [self._index(te, reg.size, f"register {reg.name}")] if te.key.fields else range(reg.size)
            out = []
            for i in idxs:
                msg = pb.TableEntry(table_id=te.table_id)
                msg.key.fields.add(field_id=1).exact.value = i.to_bytes(4, "big")
                per_pipe = [reg.read(i, p) for p in pipes]
                for n, fid in enumerate(sorted(tm.reg_fields)):
                    msg.data.fields.add(field_id=fid).int_arr_val.val.extend(v[n] for v in per_pipe)
                out.append(msg)
            return out
        if tm.kind == "pre":
            return self._read_pre(prog, tm, te)
        if tm.kind == "portmd":
            return self._read_port_metadata(tm, te)
        if tm.kind in dynhash_tables.KINDS:
            return dynhash_tables.read(tm, te)
        if tm.kind == "pvs":
            vs: R.ValueSet = tm.obj  # type: ignore[assignment]
            entries = vs.copies.get(self._value_set_copy(tm, vs, self._target), {}) if vs.scoped else vs.entries
            keys = list(entries)
            if te.key.fields:
                want = self._value_set_key(vs, te.key)
                if want not in entries:
                    raise R.EntryNotFound(f"{vs.name}: entry not found")
                keys = [want]
            out = []
            for values, masks in keys:
                msg = pb.TableEntry(table_id=te.table_id)
                for i, ((_, width), v, m) in enumerate(zip(vs.fields, values, masks, strict=True), start=1):
                    k = msg.key.fields.add(field_id=i)
                    k.ternary.value, k.ternary.mask = _to_bytes(v, width), _to_bytes(m, width)
                msg.data.SetInParent()  # an empty data, present: the SDE client yields (data, key) only with one
                out.append(msg)
            return out
        if tm.kind in ("lpf", "wred"):
            f: R.LpfArray | R.WredArray = tm.obj  # type: ignore[assignment]
            idxs = [self._index(te, f.size, f.name)] if te.key.fields else list(range(f.size))
            out = []
            for i in idxs:
                msg = pb.TableEntry(table_id=te.table_id)
                msg.key.fields.add(field_id=LPF_INDEX_ID if tm.kind == "lpf" else WRED_INDEX_ID).exact.value = \
                    i.to_bytes(4, "big")
                self._filter_fields(msg.data, tm.kind == "lpf", f.pipes[pipes[0]][i].spec)
                out.append(msg)
            return out
        if tm.kind == "regparam":
            rp: R.RegisterParam = tm.obj  # type: ignore[assignment]
            msg = pb.TableEntry(table_id=te.table_id, is_default_entry=True)
            msg.data.fields.add(field_id=1, stream=_to_bytes(rp.value, rp.width))
            return [msg]
        if tm.kind in ("meter", "profile", "selector"):
            return self._read_indexed(tm, te, pipes[0])
        if tm.kind == "counter":
            c: R.CounterArray = tm.obj  # type: ignore[assignment]
            idxs = [self._index(te, c.size, f"counter {c.name}")] if te.key.fields else range(c.size)
            out = []
            for i in idxs:
                msg = pb.TableEntry(table_id=te.table_id)
                msg.key.fields.add(field_id=1).exact.value = i.to_bytes(4, "big")
                npkts, nbytes = c.read(i, pipe, te.table_flags.from_hw)
                # only the fields the counter's type declares in bf-rt.json
                if c.kind in ("BYTES", "PACKETS_AND_BYTES"):
                    msg.data.fields.add(field_id=COUNTER_BYTES_ID, stream=nbytes.to_bytes(8, "big"))
                if c.kind in ("PACKETS", "PACKETS_AND_BYTES"):
                    msg.data.fields.add(field_id=COUNTER_PKTS_ID, stream=npkts.to_bytes(8, "big"))
                out.append(msg)
            return out
        out = []
        sessions = sorted(prog.pipeline.mirror_sessions.items())
        if te.key.fields:  # one session: the one the key names
            wanted_sid = _to_int(te.key.fields[0].exact.value)
            sessions = [(sid, s) for sid, s in sessions if sid == wanted_sid]
            if not sessions:
                raise R.EntryNotFound(f"$mirror.cfg: no session {wanted_sid}")
        out.extend(mirror_cfg.encode(sid, s) for sid, s in sessions)
        return out

    def _read_indexed(self, tm: TableMap, te: pb.TableEntry, pipe: int = 0) -> list[pb.TableEntry]:
        """Meter cells (of `pipe`), action profile members and selector groups: one (by key) or all."""
        out = []
        if tm.kind == "meter":
            m: R.MeterArray = tm.obj  # type: ignore[assignment]
            idxs = [self._index(te, m.size, f"meter {m.name}")] if te.key.fields else list(range(m.size))
            for i in idxs:
                msg = pb.TableEntry(table_id=te.table_id)
                msg.key.fields.add(field_id=te.key.fields[0].field_id if te.key.fields else 65555).exact.value = \
                    i.to_bytes(4, "big")
                for fid, v in zip(METER_SPEC_IDS[m.unit], _meter_as_read(m.unit, m.pipes[pipe][i].spec), strict=True):
                    msg.data.fields.add(field_id=fid, stream=v.to_bytes(8, "big"))
                out.append(msg)
            return out
        if tm.kind == "profile":
            p: R.ActionProfile = tm.obj  # type: ignore[assignment]
            if te.key.fields:
                mid = self._index(te, 1 << 32, f"action profile {p.name}")
                if mid not in p.members:
                    raise R.EntryNotFound(f"action profile {p.name}: no member {mid}")
                mids = [mid]
            else:
                mids = sorted(p.members)
            for mid in mids:
                e = p.members[mid]
                msg = pb.TableEntry(table_id=te.table_id)
                msg.key.fields.add(field_id=ACTION_MEMBER_ID).exact.value = mid.to_bytes(4, "big")
                aid = tm.action_names[e.action.name]
                msg.data.action_id = aid
                names = {v: k for k, v in tm.data_ids[aid].items()}
                for (pname, width), val in zip(e.action.params, e.args, strict=True):
                    msg.data.fields.add(field_id=names[pname], stream=_to_bytes(val, width))
                out.append(msg)
            return out
        sel: R.ActionSelector = tm.obj  # type: ignore[assignment]
        if te.key.fields:
            gid = self._index(te, 1 << 32, f"selector {sel.name}")
            if gid not in sel.groups:
                raise R.EntryNotFound(f"selector {sel.name}: no group {gid}")
            gids = [gid]
        else:
            gids = sorted(sel.groups)
        for gid in gids:
            g = sel.groups[gid]
            msg = pb.TableEntry(table_id=te.table_id)
            msg.key.fields.add(field_id=SELECTOR_GROUP_ID).exact.value = gid.to_bytes(4, "big")
            f = msg.data.fields.add(field_id=ACTION_MEMBER_ID)
            f.int_arr_val.SetInParent()
            f.int_arr_val.val.extend(g.members)
            f = msg.data.fields.add(field_id=ACTION_MEMBER_STATUS_ID)
            f.bool_arr_val.SetInParent()
            f.bool_arr_val.val.extend(g.status)
            msg.data.fields.add(field_id=MAX_GROUP_SIZE_ID, stream=g.max_size.to_bytes(4, "big"))
            out.append(msg)
        return out

    def _entry_msg(self, tm: TableMap, table_id: int, e: R.Entry, key: tuple | None,
                   pipes: list[int] | None = None, from_hw: bool = False) -> pb.TableEntry:
        table: R.Table = tm.obj  # type: ignore[assignment]
        msg = pb.TableEntry(table_id=table_id, is_default_entry=key is None)
        if key is not None:
            by_name = {v: k for k, v in tm.key_ids.items()}
            for k, v in zip(table.keys, key, strict=True):
                f = msg.key.fields.add(field_id=by_name[k.name])
                if k.match_kind == "exact":
                    f.exact.value = _to_bytes(v, k.width)
                elif k.match_kind == "ternary":
                    f.ternary.value, f.ternary.mask = _to_bytes(v[0], k.width), _to_bytes(v[1], k.width)
                elif k.match_kind == "lpm":
                    f.lpm.value, f.lpm.prefix_len = _to_bytes(v[0], k.width), v[1]
                else:
                    f.range.low, f.range.high = _to_bytes(v[0], k.width), _to_bytes(v[1], k.width)
            if MATCH_PRIORITY_ID in tm.key_ids:
                msg.key.fields.add(field_id=MATCH_PRIORITY_ID).exact.value = e.priority.to_bytes(4, "big")
        if e.member is not None:
            msg.data.fields.add(field_id=ACTION_MEMBER_ID, stream=e.member.to_bytes(4, "big"))
        elif e.group is not None:
            gid = next(i for i, g in table.selector.groups.items() if g is e.group)  # type: ignore[union-attr]
            msg.data.fields.add(field_id=SELECTOR_GROUP_ID, stream=gid.to_bytes(4, "big"))
        elif e.action.name in tm.action_names:  # (an indirect table's P4 default action has no id to show)
            aid = tm.action_names[e.action.name]
            msg.data.action_id = aid
            names = {v: k for k, v in tm.data_ids[aid].items()}
            for (pname, width), val in zip(e.action.params, e.args, strict=True):
                msg.data.fields.add(field_id=names[pname], stream=_to_bytes(val, width))
        if table.meter_unit is not None:  # the default entry has the direct meter too (SDE reads show it)
            spec = e.meter[0].spec if e.meter is not None else (R.METER_UNSET,) * 4  # the same in every pipe
            for fid, v in zip(METER_SPEC_IDS[table.meter_unit], _meter_as_read(table.meter_unit, spec), strict=True):
                msg.data.fields.add(field_id=fid, stream=v.to_bytes(8, "big"))
        if table.has_counter:  # from the hardware, or the software state (last written or synced)
            pkts, nbytes = (e.pkts, e.bytes) if from_hw else e.synced
            msg.data.fields.add(field_id=COUNTER_BYTES_ID, stream=nbytes.to_bytes(8, "big"))
            msg.data.fields.add(field_id=COUNTER_PKTS_ID, stream=pkts.to_bytes(8, "big"))
        if table.dfilter is not None and key is not None:
            lpf = table.dfilter.kind == "Lpf"
            self._filter_fields(msg.data, lpf, e.filt[0].spec if e.filt is not None else
                                (R.LPF_UNSET if lpf else R.WRED_UNSET))
        if table.dreg is not None and key is not None:
            # one value per pipe read, in pipe order, as the SDE reports register data
            per_pipe = [table.dreg.read(e, p) for p in (pipes if pipes is not None else [0])]
            for n, fid in enumerate(sorted(tm.reg_fields)):
                msg.data.fields.add(field_id=fid).int_arr_val.val.extend(v[n] for v in per_pipe)
        if table.idle is not None and key is not None:  # the SDE reads the TTL in notify mode, the hit state in poll
            if table.idle.mode == R.IDLE_POLL:
                msg.data.fields.add(field_id=I.ENTRY_HIT_STATE_ID, str_val=I.read_hit_state(e, from_hw))
            else:
                msg.data.fields.add(field_id=I.ENTRY_TTL_ID, stream=I.read_ttl(e).to_bytes(4, "big"))
        return msg

    # ------------------------------------------------------------ digests
    def _push_digests(self, prog: Program, msgs: list[DigestMessage]) -> None:
        """DigestLists to the clients bound to `prog` that enabled learn notifications (device lock held)."""
        by_filter: dict[str, list[DigestMessage]] = {}
        for m in msgs:
            by_filter.setdefault(m.name, []).append(m)
        for name, items in by_filter.items():
            digest_id, field_ids = prog.learn[name]
            widths = dict(prog.pipeline.digest_infos[name].fields)
            for client in list(self.clients.values()):
                if client.bound != prog.name or not client.learn:
                    continue
                lst = pb.DigestList(digest_id=digest_id, list_id=next(self.list_ids))
                for m in items:
                    data = lst.data.add()
                    for fid, (fname, val) in zip(field_ids, m.fields.items(), strict=True):
                        data.fields.add(field_id=fid, stream=_to_bytes(val, widths[fname]))
                self.unacked[(digest_id, lst.list_id)] = client.client_id
                msg = pb.StreamMessageResponse()
                msg.digest.CopyFrom(lst)
                client.out.put(msg)


def is_loopback(address: str) -> bool:
    host = address.rsplit(":", 1)[0].strip("[]")
    return address.startswith("unix:") or host in ("127.0.0.1", "localhost", "::1")


def serve(address: str = "127.0.0.1:50052", device_id: int = 0, token: str | None = None,
          allow_remote: bool = False, num_pipes: int = MAX_PIPES) -> tuple[grpc.Server, BfRuntimeServer, int]:
    """Start the server; returns (grpc server, servicer, bound port). Loopback/unix only unless allowed."""
    if not allow_remote and not is_loopback(address):
        raise ValueError(f"refusing to serve BF Runtime on {address}: only loopback or unix sockets by default")
    servicer = BfRuntimeServer(device_id, token, num_pipes)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="bfrt"),
        options=[("grpc.max_send_message_length", 1 << 30), ("grpc.max_receive_message_length", 1 << 30)],
    )
    pb_grpc.add_BfRuntimeServicer_to_server(servicer, server)
    port = server.add_insecure_port(address)
    if port == 0 and not address.startswith("unix:"):
        raise OSError(f"cannot bind BF Runtime server to {address}")
    server.start()
    return server, servicer, port
