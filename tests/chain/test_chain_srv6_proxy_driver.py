"""The proxy driver writes and reads an SRv6 chain's proxy entries (table srv6_sid) through the proxy's own
control API, in this process: the batch the driver sends is parsed by the proxy's API, checked by its
check_tables and compiled into an engine by its srv6.build, as the daemon does; what the driver reads back
compares equal to the plan (nothing to write), and a day-2 change lands make-before-break."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from chainlib import EXAMPLES, write_variant

from srchain.model import load_chain
from srchain.plan import Plan, build_plan, diff
from srchain.plan.model import DiffOp, Entry
from srchain.plan.srv6 import PROXY_SRV6_SID
from srchain.sidstore import SidStore
from srchain.targets.base import TargetError
from srchain.targets.proxy import ProxyDriver
from srchain_proxy import srv6
from srchain_proxy.config import Attachment, SidEntry, Srv6SidEntry, check_tables
from srchain_proxy.control import Api, ApiError
from srchain_proxy.engine import Engine

SPEC = EXAMPLES / "srv6-services.yaml"
INV = EXAMPLES / "inventory-srv6.yaml"
TABLES = {PROXY_SRV6_SID, "attachment"}


class _Daemon:
    """The daemon's side of the control API: check the tables and build an engine from them, as
    Daemon.apply does (no data path, no state file)."""

    def __init__(self) -> None:
        self.sids: dict[int, SidEntry] = {}
        self.atts: dict[str, Attachment] = {}
        self.srv6: dict[str, Srv6SidEntry] = {}
        self.engine = Engine("02:00:00:00:0a:01", "02:00:00:00:0a:02")
        self.datapath = SimpleNamespace(variant="python", variant_detail="no data path in this test")
        self.batches = 0

    def apply(self, sids: dict[int, SidEntry], atts: dict[str, Attachment],
              srv6_sids: dict[str, Srv6SidEntry] | None = None) -> None:
        srv6_sids = self.srv6 if srv6_sids is None else srv6_sids
        check_tables(list(sids.values()), list(atts.values()), list(srv6_sids.values()))
        tables = self.engine.build(list(sids.values()), [(a, "02:00:00:00:0b:01", None) for a in atts.values()])
        srv6.build(self.engine, tables, srv6_sids.values())
        self.engine.install(tables)
        self.sids, self.atts, self.srv6 = dict(sids), dict(atts), dict(srv6_sids)
        self.batches += 1

    def counters(self) -> dict[str, Any]:
        return self.engine.counters()

    def attachment_view(self, vnf: str) -> dict[str, Any]:
        return {**self.atts[vnf].model_dump(exclude_none=True), "resolved_mac": None, "ready": False}


class _LocalApi:
    """The driver's ProxyApi, answered by the proxy's control API in this process (JSON both ways)."""

    def __init__(self, daemon: _Daemon) -> None:
        self.api = Api(daemon)  # type: ignore[arg-type]
        self.calls: list[tuple[str, str]] = []

    def call(self, method: str, path: str, body: Any = None) -> Any:
        self.calls.append((method, path))
        try:
            _, doc = self.api.handle(method, path, json.dumps(body).encode() if body is not None else b"")
        except ApiError as exc:
            raise TargetError("proxy", f"{method} {path}: {exc.status} {exc}", code=str(exc.status)) from None
        return json.loads(json.dumps(doc))

    def close(self) -> None:
        pass


def plan_of(spec: Path, state: Path) -> Plan:
    with SidStore(state) as store:
        return build_plan(load_chain(spec, INV), store)


def proxy_ops(ops: list[DiffOp], proxy: str, phase: str) -> list[DiffOp]:
    return [o for o in ops if o.entry.target_kind == "proxy" and o.entry.target == proxy and o.phase == phase]


def live_matches(driver: ProxyDriver, entries: list[Entry]) -> bool:
    live = {k: content for k, (content, _) in driver.snapshot(TABLES).items()}
    return live == dict(driver.norm(e) for e in entries)


def test_an_srv6_chains_proxy_entries_land_and_read_back_equal(tmp_path: Path) -> None:
    plan = plan_of(SPEC, tmp_path)
    for proxy in ("px1", "px2"):
        daemon = _Daemon()
        driver = ProxyDriver(proxy, _LocalApi(daemon))  # type: ignore[arg-type]
        ops = diff(plan.entries, [])
        driver.write(proxy_ops(ops, proxy, "install"))
        mine = plan.entries_of("proxy", proxy)
        assert set(daemon.srv6) == {e.key["sid"] for e in mine if e.table == PROXY_SRV6_SID}
        assert daemon.batches == 1 + len([e for e in mine if e.table == "attachment"]), "SIDs in one batch"
        assert live_matches(driver, mine), "what the proxy answers is what the plan says: nothing to write"
        # the proxy counts per SRv6 SID: the apply's drain reads rx there
        assert all(rx == 0 for (table, _), (_, rx) in driver.snapshot(TABLES).items() if table == PROXY_SRV6_SID)


def test_a_day2_change_installs_new_sids_before_cleanup_removes_old_ones(tmp_path: Path) -> None:
    first = plan_of(SPEC, tmp_path)
    daemon = _Daemon()
    driver = ProxyDriver("px1", _LocalApi(daemon))  # type: ignore[arg-type]
    driver.write(proxy_ops(diff(first.entries, []), "px1", "install"))
    spec = write_variant(tmp_path, "no-ids", {"  - {name: ids, vnf: ids, proxy: px2, behaviour: masquerading}\n": ""},
                         base=SPEC)
    second = plan_of(spec, tmp_path)
    ops = diff(second.entries, first.entries)
    driver.write(proxy_ops(ops, "px1", "install"))
    old = {e.key["sid"] for e in first.entries_of("proxy", "px1") if e.table == PROXY_SRV6_SID}
    new = {e.key["sid"] for e in second.entries_of("proxy", "px1") if e.table == PROXY_SRV6_SID}
    assert set(daemon.srv6) == old | new, "between flip and cleanup both versions' SIDs serve"
    driver.write(proxy_ops(ops, "px1", "cleanup"))
    assert set(daemon.srv6) == new
    assert live_matches(driver, second.entries_of("proxy", "px1"))


def test_a_refused_srv6_entry_names_its_operation(tmp_path: Path) -> None:
    plan = plan_of(SPEC, tmp_path)
    daemon = _Daemon()
    driver = ProxyDriver("px1", _LocalApi(daemon))  # type: ignore[arg-type]
    ops = proxy_ops(diff(plan.entries, []), "px1", "install")
    sid_ops = [i for i, o in enumerate(ops) if o.entry.table == PROXY_SRV6_SID]
    bad = ops[sid_ops[-1]]
    broken = Entry(bad.entry.target_kind, bad.entry.target, bad.entry.table, bad.entry.key, bad.entry.action,
                   {**bad.entry.params, "cache_size": 0}, bad.entry.role, bad.entry.version)
    ops[sid_ops[-1]] = DiffOp(bad.op, bad.phase, broken)
    with pytest.raises(TargetError) as info:
        driver.write(ops)
    assert info.value.index == sid_ops[-1] and "srv6_put[" in info.value.message and "cache_size" in info.value.message
    assert daemon.srv6 == {}, "the batch is atomic: no SRv6 SID landed"
