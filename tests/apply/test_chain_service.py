"""ChainService on the reference chain (examples/) with in-memory targets (fake_target.py): the SID store
follows the apply's outcome: released after a success, given back after a failure that changed nothing,
kept while a target may still hold the labels; one writer per chain."""

from __future__ import annotations

import fcntl
import sqlite3
from pathlib import Path

import pytest
from apply_helpers import REPO
from fake_target import FakeNetwork, as_live

from srchain.apply import ApplyError, Options
from srchain.chains import ChainService
from srchain.errors import SrchainError
from srchain.sidstore import SidStore

EX = REPO / "examples"
REF, MIT = EX / "cloud-gaming.yaml", EX / "cloud-gaming-mitigation.yaml"


@pytest.fixture
def net() -> FakeNetwork:
    return FakeNetwork()


@pytest.fixture
def service(net: FakeNetwork, tmp_path: Path) -> ChainService:
    return ChainService(EX / "inventory.yaml", tmp_path, options=Options(drain_timeout=2, drain_interval=0.5),
                        connect=net.connect, clock=net.clock, lock_wait=0)


def labels(service: ChainService) -> list[int]:
    with SidStore(service.state_dir) as store:
        return [s.label for s in store.sids("cloud-gaming")]


def versions(service: ChainService) -> list[int]:
    db = sqlite3.connect(service.state_dir / "sids.sqlite")
    try:
        return [v for (v,) in db.execute("SELECT version FROM versions WHERE chain = 'cloud-gaming' ORDER BY 1")]
    finally:
        db.close()


def test_apply_then_change_back_releases_the_sids_only_the_old_version_used(service, net) -> None:
    v1 = service.apply(service.load(REF))
    assert v1.plan.version == 1 and v1.released == [] and net.live() == as_live(v1.plan.entries)
    v2 = service.apply(service.load(MIT))
    new = sorted(set(labels(service)) - {s.sid for s in v1.plan.sids})
    assert v2.released == [] and len(new) == 1  # the mitigation's SID
    v3 = service.apply(service.load(REF))
    assert v3.plan.version == 3 and v3.released == new
    assert labels(service) == sorted(s.sid for s in v3.plan.sids) == sorted(s.sid for s in v1.plan.sids)


def test_failed_apply_gives_back_what_it_allocated(service, net) -> None:
    service.apply(service.load(REF))
    before, live = labels(service), net.live()
    net.target("proxy", "px1").refuse = lambda op: "no such interface" if op.phase == "install" else None
    with pytest.raises(ApplyError) as err:
        service.apply(service.load(MIT))
    assert str(err.value).startswith("apply of chain 'cloud-gaming' v2 failed: proxy px1: table attachment, ")
    assert str(err.value).endswith("nothing had been changed")
    assert err.value.target == "proxy px1" and err.value.reason == "no such interface" and err.value.unchanged
    assert net.live() == live
    assert labels(service) == before and versions(service) == [1]  # nothing leaked
    net.target("proxy", "px1").refuse = lambda op: None
    again = service.apply(service.load(MIT))
    assert again.plan.version == 2  # the version the failed attempt had taken


def test_sids_stay_reserved_while_a_failed_rollback_may_have_left_them_live(service, net) -> None:
    service.apply(service.load(REF))
    sw = net.target("switch", "s1")
    sw.refuse = lambda op: "gone" if op.phase == "flip" else None  # the flip fails ...
    net.target("proxy", "px1").refuse = lambda op: "gone" if op.op == "delete" else None  # ... and its undo too
    with pytest.raises(ApplyError, match="ROLLBACK INCOMPLETE") as err:
        service.apply(service.load(MIT))
    assert err.value.unchanged is False
    with SidStore(service.state_dir) as store:
        mitigation = [s for s in store.sids("cloud-gaming") if s.segment == "mitigation"]
    assert len(mitigation) == 1 and versions(service) == [1, 2]  # still reserved: the proxy may hold it


def test_delete_frees_every_sid_and_unknown_chains_are_named(service, net) -> None:
    service.apply(service.load(REF))
    done = service.delete("cloud-gaming")
    assert len(done.released) == 6 and labels(service) == [] and net.live() == {}
    with pytest.raises(ApplyError, match=r"^delete of chain 'cloud-gaming' failed: chain cloud-gaming has not "
                                         r"been applied"):
        service.delete("cloud-gaming")
    with pytest.raises(ApplyError, match=r"^reconcile of chain 'x' failed: chain x has not been applied"):
        service.reconcile("x")
    with pytest.raises(SrchainError, match=r"chain name '\.\./x' cannot be a file name"):
        service.status("../x")


def test_one_writer_per_chain(service) -> None:
    lock = service.state_dir / "locks" / "cloud-gaming.lock"
    lock.parent.mkdir(parents=True)
    with open(lock, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(SrchainError, match=r"^chain 'cloud-gaming' is busy: another srchain process is changing "
                                               r"it .*; nothing was done$"):
            service.apply(service.load(REF))
    assert labels(service) == []
    assert service.apply(service.load(REF)).plan.version == 1  # free again
