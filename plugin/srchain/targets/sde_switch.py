"""A P4 switch target whose table entries go through the SDE's `bfrt_grpc.client` vocabulary.

On a switch host with the SDE (`PYTHONPATH=$SDE_INSTALL/lib/python3.x/site-packages/tofino`), `load_gc()`
returns Intel's own client and this driver writes and reads entries with it: `ClientInterface`,
`bfrt_info_get().table_get()`, `make_key`/`make_data` with `KeyTuple`/`DataTuple`, `entry_add`/`entry_mod`/
`entry_del` with key and data lists, `entry_get`. Elsewhere the same code runs over the project's facade
(`srchain.bfrt.sde`), which is how the tests exercise it against the emulator.

What stays on the project's client (wire-compatible with bf_switchd): the program push with its content
hash (the SDE client wants switch-side file paths for a push) and the table schema used to put plan
entries in normal form. The SDE client has no cross-table atomic batch: consecutive operations on one
table go in one `entry_*` call; on a failure the engine reads back what landed and rolls it back.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from srchain.bfrt.client import BfrtClient
from srchain.plan import tm as TM
from srchain.plan.model import DiffOp, canonical
from srchain.targets.base import NKey, TargetError
from srchain.targets.loader import Bundle
from srchain.targets.switch import COUNTER_FIELDS, COUNTER_PKTS, SwitchDriver, planned_fields

DATA_META = frozenset({"action_name", "is_default_entry"})


class SdeSwitchDriver(SwitchDriver):
    def __init__(self, name: str, client: BfrtClient, program: str, bundle: Bundle | None, gc: ModuleType,
                 iface: Any) -> None:
        super().__init__(name, client, program, bundle)
        self.gc = gc
        self.iface = iface
        self.target = gc.Target(device_id=client.device_id, pipe_id=0xFFFF)
        self._info: Any = None
        self._tables: dict[str, Any] = {}

    def prepare(self, load: bool = True) -> list[str]:
        notes = super().prepare(load)  # push when needed, then bind (project client)
        try:
            self.iface.bind_pipeline_config(self.program)
            self._info = self.iface.bfrt_info_get(self.program)
        except Exception as exc:  # the SDE raises its own BfruntimeRpcException and plain RuntimeErrors
            raise TargetError(f"switch {self.name}", f"bfrt_grpc: program {self.program}: {exc}") from None
        self._tables.clear()
        return notes

    def close(self) -> None:
        try:
            self.iface.tear_down_stream()
        finally:
            super().close()

    def _sde_table(self, table: str) -> Any:
        if table not in self._tables:
            if self._info is None:
                self.prepare(load=False)
            try:
                self._tables[table] = self._info.table_get(table)
            except Exception as exc:
                raise TargetError(f"switch {self.name}", f"table {table}: {exc}", code="NOT_FOUND") from None
        return self._tables[table]

    # ------------------------------------------------------------ plan entry -> KeyTuple / DataTuple
    def _key(self, t: Any, wire: dict[str, Any]) -> Any:
        kts = []
        for name, v in wire.items():
            if isinstance(v, tuple) and self._match(t, name) == "LPM":
                kts.append(self.gc.KeyTuple(name, v[0], prefix_len=v[1]))
            elif isinstance(v, tuple) and self._match(t, name) == "Range":
                kts.append(self.gc.KeyTuple(name, low=v[0], high=v[1]))
            elif isinstance(v, tuple):
                kts.append(self.gc.KeyTuple(name, v[0], mask=v[1]))
            else:
                kts.append(self.gc.KeyTuple(name, v))
        return t.make_key(kts)

    def _match(self, t: Any, name: str) -> str:
        schema = self._table(t.info.name_get())
        return next((k.match_type for k in schema.keys if k.name == name), "Exact")

    def _data(self, t: Any, action: str | None, data: dict[str, Any]) -> Any:
        dts = []
        for name, v in data.items():
            if isinstance(v, list) and v and all(isinstance(x, bool) for x in v):
                dts.append(self.gc.DataTuple(name, bool_arr_val=v))
            elif isinstance(v, list):
                dts.append(self.gc.DataTuple(name, int_arr_val=v))
            elif isinstance(v, bool):
                dts.append(self.gc.DataTuple(name, bool_val=v))
            elif isinstance(v, str):
                dts.append(self.gc.DataTuple(name, str_val=v))
            else:
                dts.append(self.gc.DataTuple(name, v))
        return t.make_data(dts, action)

    # ------------------------------------------------------------ reads
    def snapshot(self, tables: set[str]) -> dict[NKey, tuple[str, int | None]]:
        out: dict[NKey, tuple[str, int | None]] = super().snapshot(tables & TM.TABLES)
        for table in sorted(tables - TM.TABLES):
            t = self._sde_table(table)
            try:
                rows = list(t.entry_get(self.target, None, {"from_hw": True}))
            except Exception as exc:
                raise TargetError(f"switch {self.name}", f"table {table}: read failed: {exc}") from None
            for data, key in rows:
                d = data.to_dict()
                if d.get("is_default_entry"):
                    continue
                fields = planned_fields(table, {k: v for k, v in d.items()
                                                if k not in DATA_META and k not in COUNTER_FIELDS})
                pkts = d.get(COUNTER_PKTS)
                out[(table, self._norm_key(key.to_dict()))] = (
                    canonical([d.get("action_name"), fields]),
                    pkts if isinstance(pkts, int) else None,
                )
        return out

    @staticmethod
    def _norm_key(kd: dict[str, dict[str, Any]]) -> Any:
        """key.to_dict() -> the same normal form as SwitchDriver.norm (ints and (a, b) pairs)."""
        items = []
        for name, parts in kd.items():
            if "mask" in parts:
                items.append((name, (parts["value"], parts["mask"])))
            elif "prefix_len" in parts:
                items.append((name, (parts["value"], parts["prefix_len"])))
            elif "low" in parts:
                items.append((name, (parts["low"], parts["high"])))
            else:
                items.append((name, parts["value"]))
        return canonical(sorted(items))

    # ------------------------------------------------------------ writes
    def write(self, ops: list[DiffOp], chunk: int = 500, in_flight: int = 2) -> None:
        """Runs of operations on one table with one kind go in one entry_* call (up to `chunk` keys)."""
        start = 0
        while start < len(ops):
            end = start + 1
            while (end < len(ops) and end - start < chunk and ops[end].op == ops[start].op
                   and ops[end].entry.table == ops[start].entry.table):
                end += 1
            if ops[start].entry.table in TM.TABLES:
                try:
                    SwitchDriver.write(self, ops[start:end])
                except TargetError as exc:
                    exc.index = None if exc.index is None else exc.index + start
                    raise
            else:
                self._write_run(ops[start:end], start)
            start = end

    def _write_run(self, run: list[DiffOp], start: int) -> None:
        table = run[0].entry.table
        t = self._sde_table(table)
        keys = [self._key(t, self.wire_key(op.entry)) for op in run]
        try:
            if run[0].op == "delete":
                t.entry_del(self.target, keys)
                return
            datas = [self._data(t, *self.wire_data(op.entry)) for op in run]
            call = t.entry_add if run[0].op == "add" else t.entry_mod
            call(self.target, keys, datas)
        except TargetError:
            raise
        except Exception as exc:
            # Which key of the run failed is not reported the same way by every client: the engine reads
            # back what landed (landed_unknown) before it rolls back.
            raise TargetError(f"switch {self.name}", f"bfrt_grpc {run[0].op} on {table}: {exc}", start,
                              getattr(exc, "code", "UNKNOWN"), landed_unknown=True) from None
