"""One controller over several sites (docs/multisite.md, srchain.apply.sites): each phase written per site in
parallel with a barrier between phases, a failure in one site undoing every site exactly, status per site,
timeouts and the drain interval sized from the WAN's delay, and many chains applied as one change."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import yaml
from apply_helpers import REPO
from fake_target import FakeDriver, FakeNetwork, as_live

from srchain.apply import AppliedStore, ApplyError, Controller, Drivers, Options
from srchain.apply.sites import path_delays, site_timings, target_sites, target_timeout, wan_options
from srchain.chains import ChainService
from srchain.model.load import load_inventory
from srchain.plan.diff import diff
from srchain.plan.model import DiffOp, Entry, Plan
from srchain.sidstore import SidStore

EX = REPO / "examples"
INV, SPEC = EX / "inventory-two-site.yaml", EX / "two-site.yaml"
SITE_A = {("switch", "a1"), ("switch", "a2"), ("proxy", "pxa")}  # pxa: the VNF host day 2 moves the mitigation to
SITE_B = {("switch", "b1"), ("proxy", "pxb")}


@pytest.fixture
def net() -> FakeNetwork:
    return FakeNetwork()


@pytest.fixture
def service(net: FakeNetwork, tmp_path: Path) -> ChainService:
    return ChainService(INV, tmp_path / "state", options=Options(drain_timeout=2, drain_interval=0.5),
                        connect=net.connect, clock=net.clock, lock_wait=0)


def reordered(tmp: Path) -> Path:
    """The two-site chain with its classifier and aggregator swapped: new proxy SIDs in site B, new stacks
    (flips) in site A, old rows to clean up in both."""
    doc = yaml.safe_load(SPEC.read_text())
    doc["segments"][2], doc["segments"][3] = doc["segments"][3], doc["segments"][2]
    path = tmp / "reordered.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def site_of(entry: Entry) -> str:
    return "site-a" if (entry.target_kind, entry.target) in SITE_A else "site-b"


def test_targets_sites_and_wan_timing() -> None:
    inv, _ = load_inventory(INV)
    assert target_sites(inv) == {**dict.fromkeys(SITE_A, "site-a"), **dict.fromkeys(SITE_B, "site-b")}
    assert path_delays(inv) == {("site-a", "site-b"): 10.0, ("site-b", "site-a"): 10.0}
    t = site_timings(inv)["site-b"]
    assert (t.wan_delay_ms, t.timeout_s, t.attempts, t.retry_backoff_s) == (10.0, 10.0 + 4 * 0.02, 3, 0.5)
    assert target_timeout(inv, "proxy", "pxb") == pytest.approx(10.08)
    three, _ = load_inventory(EX / "inventory-three-site.yaml")
    far = max(path_delays(three).values())
    assert site_timings(three, base_timeout_s=1.0)["site-c"].timeout_s == pytest.approx(
        1.0 + 4 * 2 * max(d for (_, there), d in path_delays(three).items() if there == "site-c") / 1000)
    opts = wan_options(three, Options(drain_interval=0.01, drain_timeout=0.1))
    assert opts.drain_interval == pytest.approx(2 * far / 1000 + 0.1) and opts.drain_timeout >= 4 * opts.drain_interval
    single, _ = load_inventory(EX / "inventory.yaml")
    assert target_sites(single) == {} and wan_options(single, Options()) == Options()
    assert target_timeout(single, "switch", "s1") == 10.0


def test_phases_are_barriers_across_sites_and_each_site_runs_in_its_own_thread(service, net, tmp_path) -> None:
    threads: dict[tuple[str, str], set[str]] = {}  # (phase, site) -> the threads that wrote it
    real_write = FakeDriver.write

    def write(self: FakeDriver, ops: list[DiffOp]) -> None:
        threads.setdefault((ops[0].phase, site_of(ops[0].entry)), set()).add(threading.current_thread().name)
        real_write(self, ops)

    v1 = service.apply(service.load(SPEC))
    net.journal.clear()
    FakeDriver.write = write  # type: ignore[method-assign]
    try:
        v2 = service.apply(service.load(reordered(tmp_path)))
    finally:
        FakeDriver.write = real_write  # type: ignore[method-assign]
    assert net.live() == as_live(v2.plan.entries)
    phases = [w[2] for w in net.writes()]
    assert phases == sorted(phases, key=["install", "flip", "cleanup"].index), "a phase ends in every site first"
    installed_on = {tuple(w[1].split()) for w in net.writes() if w[2] == "install"}
    assert installed_on & SITE_A and installed_on & SITE_B, "both sites install"
    both = [p for p in ("install", "flip", "cleanup") if (p, "site-a") in threads and (p, "site-b") in threads]
    assert both, "some phase writes in both sites"
    for p in both:
        assert len(threads[(p, "site-a")]) == len(threads[(p, "site-b")]) == 1
        assert threads[(p, "site-a")] == {"srchain-site-site-a"} and threads[(p, "site-b")] == {"srchain-site-site-b"}
    sites = v2.result.sites
    assert set(sites) == {"site-a", "site-b"} and sum(s.ops for s in sites.values()) == len(v2.result.ops)
    assert sum(s.batches for s in sites.values()) == v2.result.batches
    assert v2.plan.version == v1.plan.version + 1


@pytest.mark.parametrize("failing", ["site-b install", "site-a flip", "site-b cleanup"])
def test_a_failure_in_one_site_restores_every_site_exactly(service, net, tmp_path, failing) -> None:
    v1 = service.apply(service.load(SPEC))
    before = net.live()
    assert before == as_live(v1.plan.entries)
    with SidStore(service.state_dir) as store:
        sids_before = store.sids()
    site, phase = failing.split()
    target = ("proxy", "pxb") if site == "site-b" and phase == "install" else \
        ("switch", "b1") if site == "site-b" else ("switch", "a1")
    net.target(*target).refuse = lambda op: "table full" if op.phase == phase else None
    with pytest.raises(ApplyError) as err:
        service.apply(service.load(reordered(tmp_path)))
    text = str(err.value)
    assert f"site {site}: {target[0]} {target[1]}: table " in text and "table full" in text
    # the other site stops after its batch in flight: it may not have written anything yet
    assert text.endswith("the previous version is in place") or text.endswith("nothing had been changed")
    assert err.value.unchanged and err.value.target == f"{target[0]} {target[1]}"
    assert net.live() == before, "every site exactly as before: site A's entries and site B's"
    with SidStore(service.state_dir) as store:
        assert store.sids() == sids_before, "the SIDs the failed apply took are given back"
    undone = [w for w in net.writes() if w[2] == phase]
    assert undone, "the failing phase was reached"


def test_a_failure_in_site_b_undoes_site_a_flips_before_its_installs(service, net, tmp_path) -> None:
    service.apply(service.load(SPEC))
    before = net.live()
    v2 = service.plan(service.load(reordered(tmp_path)))
    ops = diff(v2.entries, [e for e in service.applied.entries(v2.chain)])
    assert {site_of(op.entry) for op in ops if op.phase == "flip"} == {"site-a"}
    net.journal.clear()
    net.target("switch", "b1").refuse = lambda op: "gone" if op.phase == "cleanup" else None
    with pytest.raises(ApplyError, match="site site-b: switch b1"):
        service.apply(service.load(reordered(tmp_path)))
    writes = net.writes()
    rollback = writes[next(i for i, w in enumerate(writes) if w[2] == "cleanup"):]
    a_undo = [w for w in rollback if w[1].startswith("switch a")]
    # the undo of a flip is journalled with its phase: site A's flips come back before its installs go
    assert [w[2] for w in a_undo] == sorted((w[2] for w in a_undo), key=["cleanup", "flip", "install"].index)
    assert net.live() == before


def test_status_reports_each_target_with_its_site(service, net) -> None:
    service.apply(service.load(SPEC))
    report = service.status("cloud-gaming-two-site")
    assert {k: r["site"] for k, r in report.items()} == {"switch a1": "site-a", "switch a2": "site-a",
                                                         "switch b1": "site-b", "proxy pxb": "site-b"}
    assert all(r["ok"] == r["intended"] for r in report.values())
    net.target("switch", "b1").table.clear()  # site B's border restarted
    report = service.status("cloud-gaming-two-site")
    assert report["switch b1"]["ok"] == 0 and report["switch a1"]["ok"] == report["switch a1"]["intended"]
    done = service.reconcile("cloud-gaming-two-site")
    assert set(done.result.sites) == {"site-b"} and done.result.sites["site-b"].ops == report["switch b1"]["intended"]


def test_many_chains_apply_as_one_change_and_share_rows(service, net, tmp_path) -> None:
    specs = []
    for i in range(5):
        doc = yaml.safe_load(SPEC.read_text())
        doc["chain"] = f"c{i}"
        for r, rule in enumerate(doc["classifier"]["rules"]):
            rule["match"] = {"protocol": "udp", "src_port": 1000 + i, "dst_port": 2000 + r}
        path = tmp_path / f"c{i}.yaml"
        path.write_text(yaml.safe_dump(doc))
        specs.append(path)
    done = service.apply_many([service.load(p) for p in specs])
    assert [d.chain for d in done] == [f"c{i}" for i in range(5)]
    entries = {e.identity: e for d in done for e in d.plan.entries}
    assert net.live() == as_live(list(entries.values()))
    assert sum(len(d.plan.entries) for d in done) > len(entries), "shared rows (routes, decap) written once"
    assert len(done[0].result.ops) == len(entries)
    assert service.applied.chains() == [f"c{i}" for i in range(5)]
    # and a failing batch leaves nothing, allocates nothing
    more = tmp_path / "c5.yaml"
    more.write_text(specs[0].read_text().replace("chain: c0", "chain: c5").replace("src_port: 1000", "src_port: 1005"))
    before = net.live()
    net.target("proxy", "pxb").refuse = lambda op: "full"
    with pytest.raises(ApplyError, match=r"apply of 1 chain\(s\) \(c5\) failed: site site-b: proxy pxb"):
        service.apply_many([service.load(more)])
    assert net.live() == before
    with SidStore(service.state_dir) as store:
        assert not store.sids("c5")


def _entry(target: str, label: int, port: int, version: int = 1) -> Entry:
    return Entry("switch", target, "SwitchIngress.sr.sid_forward", {"label": label}, "SwitchIngress.sr.forward",
                 {"port": port, "dst_mac": "02:00:00:00:00:01"}, "sid_forward", version)


def _plan(chain: str, entries: list[Entry]) -> Plan:
    return Plan(chain, 1, f"digest-{chain}", 1, [], [], entries)


@pytest.fixture
def engine(net: FakeNetwork, tmp_path: Path):
    def make(batch_size: int = 10_000) -> Controller:
        return Controller(Drivers(net.factory), AppliedStore(tmp_path / "applied"),
                          Options(drain_timeout=1, drain_interval=0.5, batch_size=batch_size), net.clock,
                          sites={("switch", "a1"): "site-a", ("switch", "b1"): "site-b"})

    return make


def test_apply_many_refuses_two_plans_that_disagree_before_writing(engine, net) -> None:
    with pytest.raises(ApplyError, match=r"chains 'x' and 'y' plan different content .*nothing was changed"):
        engine().apply_many([_plan("x", [_entry("a1", 100, 1)]), _plan("y", [_entry("a1", 100, 2)])])
    with pytest.raises(ApplyError, match=r"chains planned twice in one apply: \['x'\]"):
        engine().apply_many([_plan("x", [_entry("a1", 100, 1)]), _plan("x", [_entry("a1", 101, 1)])])
    assert net.writes() == []
    shared = _entry("b1", 300, 9)
    done = engine().apply_many([_plan("x", [_entry("a1", 100, 1), shared]), _plan("y", [_entry("a1", 101, 1), shared])])
    assert len(done.ops) == 3 and net.live() == as_live([_entry("a1", 100, 1), _entry("a1", 101, 1), shared])
    assert engine().apply_many([]).ops == []


def test_the_other_site_stops_after_its_batch_in_flight(engine, net) -> None:
    """Site B fails while site A is writing its first batch: A writes no further batch, and all of A is undone."""
    a_busy, b_failed = threading.Event(), threading.Event()
    real_write = FakeDriver.write

    def write(self: FakeDriver, ops: list[DiffOp]) -> None:
        if self.name == "a1" and ops[0].op == "add":
            a_busy.set()
            assert b_failed.wait(5)  # site B fails while this batch is in flight
        real_write(self, ops)

    def refuse(op: DiffOp) -> str | None:
        assert a_busy.wait(5)
        b_failed.set()
        return "no room"

    net.target("switch", "b1").refuse = refuse
    FakeDriver.write = write  # type: ignore[method-assign]
    try:
        with pytest.raises(ApplyError) as err:
            engine(batch_size=2).apply(_plan("x", [_entry("a1", 100 + i, 1) for i in range(6)]
                                             + [_entry("b1", 200, 9)]))
    finally:
        FakeDriver.write = real_write  # type: ignore[method-assign]
    adds = [w for w in net.writes() if w[1] == "switch a1" and w[3] == "add"]
    assert len(adds) == 2, "site A wrote its batch in flight (2 of 6 entries), then stopped"
    assert str(err.value).startswith("site site-b: switch b1: table SwitchIngress.sr.sid_forward")
    assert "rolled back 2 operation(s) in site site-a: the previous version is in place" in str(err.value)
    assert net.live() == {} and err.value.unchanged
