"""SRv6 SIDs in the SID store: locator + function, the lowest free function first, persistent, all or
nothing, given back and released like labels, unique across processes; and the schema migration that
keeps a store written before SRv6 working."""

from __future__ import annotations

import ipaddress
import sqlite3
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pytest
from chainlib import EXAMPLES, INVENTORY

from srchain.errors import SrchainError
from srchain.model import load_chain
from srchain.model.spec import SrBlock
from srchain.plan import build_plan
from srchain.sidstore import FUNCTION_FIRST, FUNCTION_LAST, SCHEMA_VERSION, BlockExhausted, SidStore, sid_address

V0_DUMP = Path(__file__).parent / "data" / "sidstore-v0.sql"
LOC = "fcbb:bb00:2::/48"


def test_sid_address_puts_the_function_right_after_the_locator() -> None:
    assert sid_address("fcbb:bb00:2::/48", 0x100) == "fcbb:bb00:2:100::"
    assert sid_address("fcbb:bb00:2::/48", 0xFFFF) == "fcbb:bb00:2:ffff::"
    assert sid_address("2001:db8:0:7::/64", 0x1AB) == "2001:db8:0:7:1ab::"
    assert sid_address("fcbb:bb00::/40", 0x100) == "fcbb:bb00:1::"  # /40: the function straddles a group
    last = ipaddress.IPv6Address(sid_address("fcbb:bb00:0:0:0:0:7::/112", 0xABCD))
    assert int(last) & 0xFFFF == 0xABCD


def test_allocation_lowest_free_function_stable_and_per_locator(tmp_path: Path) -> None:
    with SidStore(tmp_path) as store:
        with store.transaction() as tx:
            a = tx.srv6_sid("c", "nat", "nat", "ctx", 1, LOC)
            b = tx.srv6_sid("c", "fw", "fw-a", "ctx", 1, LOC)
            c = tx.srv6_sid("c", "ids", "ids", "ctx", 1, "fcbb:bb00:3::/48")
            again = tx.srv6_sid("c", "nat", "nat", "ctx", 1, LOC)
        assert (a.sid, a.function) == ("fcbb:bb00:2:100::", FUNCTION_FIRST)
        assert (b.sid, b.function) == ("fcbb:bb00:2:101::", FUNCTION_FIRST + 1)
        assert c.sid == "fcbb:bb00:3:100::"
        assert again == a and tx.added.srv6 == [a.sid, b.sid, c.sid]
        with store.transaction() as tx:  # a new context is a new SID (hitless versioning); the old one stays
            newer = tx.srv6_sid("c", "nat", "nat", "ctx2", 2, LOC)
        assert newer.sid == "fcbb:bb00:2:102::" and newer.since == 2
    with SidStore(tmp_path) as store:  # persisted
        assert [s.sid for s in store.srv6_sids("c")] == [a.sid, b.sid, newer.sid, c.sid]


def test_a_refused_plan_keeps_no_srv6_sid(tmp_path: Path) -> None:
    with SidStore(tmp_path) as store:
        with pytest.raises(RuntimeError), store.transaction() as tx:
            tx.srv6_sid("c", "nat", "nat", "ctx", 1, LOC)
            tx.sid("c", "p", "p", "ctx", 1, SrBlock())
            raise RuntimeError("the plan failed after allocating")
        assert store.srv6_sids() == [] and store.sids() == []


def test_undo_and_release(tmp_path: Path) -> None:
    with SidStore(tmp_path) as store:
        with store.transaction() as tx:
            kept = tx.srv6_sid("c", "nat", "nat", "v1", 1, LOC)
            old = tx.srv6_sid("c", "fw", "fw", "v1", 1, LOC)
            label = tx.sid("c", "p", "p", "ctx", 1, SrBlock()).label
        with store.transaction() as tx:
            fresh = tx.srv6_sid("c", "fw", "fw", "v2", 2, LOC)
        store.undo(tx.added)  # its apply failed, nothing changed: the new SID goes back
        assert fresh.sid not in {s.sid for s in store.srv6_sids()}
        assert store.release("c", {kept.sid, label}) == [old.sid]
        assert [s.sid for s in store.srv6_sids()] == [kept.sid]
        assert sorted(map(str, store.release("c", set()))) == sorted([str(label), kept.sid])


def test_exhausted_locator_is_refused_naming_locator_and_segment(tmp_path: Path) -> None:
    with SidStore(tmp_path) as store:
        db = sqlite3.connect(store.path)
        db.executemany("INSERT INTO srv6_sids VALUES (?, ?, ?, 'x', ?, 'i', 'c', 1, 0)",
                       [(sid_address(LOC, f), LOC, f, f"s{f}") for f in range(FUNCTION_FIRST, FUNCTION_LAST)])
        db.commit()
        db.close()
        with store.transaction() as tx:
            assert tx.srv6_sid("c", "last", "i", "ctx", 1, LOC).function == FUNCTION_LAST
        exhausted = r"locator fcbb:bb00:2::/48 is exhausted.*segment 'one-more'"
        with pytest.raises(BlockExhausted, match=exhausted), store.transaction() as tx:
            tx.srv6_sid("c", "one-more", "i", "ctx", 1, LOC)
        assert len(store.srv6_sids("c")) == 1


def test_an_address_taken_under_another_locator_spelling_is_skipped(tmp_path: Path) -> None:
    """Locators are disjoint within an inventory; a store shared by two inventories may still see a /48 and
    a /56 that cover the same addresses: a SID address is never handed out twice."""
    with SidStore(tmp_path) as store:
        with store.transaction() as tx:
            tx.srv6_sid("c", "a", "i", "ctx", 1, "fcbb:bb00::/48")  # fcbb:bb00:0:100::
            taken = tx.srv6_sid("c", "b", "i", "ctx", 1, "fcbb:bb00::/48")  # fcbb:bb00:0:101::
            # /56 fcbb:bb00:0:100::, function 0x100 would be fcbb:bb00:0:101:: as well: skipped
            narrow = tx.srv6_sid("d", "a", "i", "ctx", 1, "fcbb:bb00:0:100::/56")
        assert sid_address("fcbb:bb00:0:100::/56", 0x100) == taken.sid == "fcbb:bb00:0:101::"
        assert (narrow.sid, narrow.function) == ("fcbb:bb00:0:101:100::", 0x101)


def _allocate_many(state_dir: str, chain: str, n: int) -> list[str]:
    out = []
    with SidStore(state_dir) as store:
        for i in range(n):
            with store.transaction() as tx:
                out.append(tx.srv6_sid(chain, f"seg{i}", "i", "ctx", 1, LOC).sid)
    return out


def test_concurrent_processes_never_share_an_srv6_sid(tmp_path: Path) -> None:
    with ProcessPoolExecutor(4, mp_context=get_context("spawn")) as pool:
        results = list(pool.map(_allocate_many, [str(tmp_path)] * 4, [f"chain{i}" for i in range(4)], [40] * 4))
    sids = [s for r in results for s in r]
    assert len(sids) == 160 and len(set(sids)) == 160
    functions = sorted(int(ipaddress.IPv6Address(s)) >> 64 & 0xFFFF for s in sids)
    assert functions == list(range(FUNCTION_FIRST, FUNCTION_FIRST + 160)), "the lowest free functions, no gaps"


def _open_and_allocate(state_dir: str) -> str:
    with SidStore(state_dir) as store, store.transaction() as tx:
        return tx.srv6_sid("c", "s", "i", f"ctx-{id(store)}-{time.monotonic_ns()}", 1, LOC).sid


def test_processes_opening_a_new_store_at_once_all_get_in(tmp_path: Path) -> None:
    """The first opens of a store race to switch it to WAL and to migrate it; SQLite refuses the journal
    mode switch's loser at once ("database is locked"), which the store retries (it failed ~3% of opens)."""
    with ProcessPoolExecutor(6, mp_context=get_context("spawn")) as pool:
        for n in range(10):
            sids = list(pool.map(_open_and_allocate, [str(tmp_path / f"round{n}")] * 6))
            assert len(set(sids)) == 6


# ---- migration -------------------------------------------------------------------------------------------

def _v0_store(state: Path) -> Path:
    state.mkdir(parents=True)
    db = sqlite3.connect(state / "sids.sqlite")
    db.executescript(V0_DUMP.read_text())
    db.close()
    return state


def test_a_store_written_before_srv6_is_migrated_and_keeps_working(tmp_path: Path) -> None:
    state = _v0_store(tmp_path / "state")
    with sqlite3.connect(state / "sids.sqlite") as db:
        assert db.execute("PRAGMA user_version").fetchone() == (0,)
        before = db.execute("SELECT * FROM sids ORDER BY label").fetchall()
    with SidStore(state) as store:
        assert [s.label for s in store.sids("cloud-gaming")] == list(range(16000, 16007))
        # the same spec plans to the same version and labels: nothing new allocated
        plan = build_plan(load_chain(EXAMPLES / "cloud-gaming-mitigation.yaml", INVENTORY), store)
        assert plan.version == 2 and {s.sid for s in plan.sids} == set(range(16000, 16007))
        with store.transaction() as tx:
            assert tx.srv6_sid("c", "nat", "nat", "ctx", 1, LOC).sid == "fcbb:bb00:2:100::"
    with sqlite3.connect(state / "sids.sqlite") as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert db.execute("SELECT * FROM sids ORDER BY label").fetchall() == before
    with SidStore(state) as store:  # opening a migrated store again changes nothing
        assert len(store.srv6_sids()) == 1 and len(store.sids()) == 7


def test_a_store_from_a_newer_srchain_is_refused_untouched(tmp_path: Path) -> None:
    state = _v0_store(tmp_path / "state")
    with sqlite3.connect(state / "sids.sqlite") as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(SrchainError, match=rf"schema version {SCHEMA_VERSION + 1} is newer than this srchain's"):
        SidStore(state)
    with sqlite3.connect(state / "sids.sqlite") as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "srv6_sids" not in tables and db.execute("SELECT COUNT(*) FROM sids").fetchone() == (7,)
