"""Persistent SID allocation and chain versions, in SQLite under the state directory.

One row per allocated label. A SID is keyed by (chain, segment, instance, context): the context is
what the SID's behaviour depends on (for a proxy SID, the stack it restores), so re-planning the same
chain returns the same labels and a changed chain keeps every SID whose context did not change.
Labels are unique across all chains (they share the network's label space) and never 0-15.
Writers take SQLite's write lock up front (BEGIN IMMEDIATE), so concurrent srchain processes
serialise and never hand out the same label.

A plan's allocations commit when it is built (a plan shown is a plan reserved); each transaction
records what it added (`Allocation.added`), so an apply that failed and left the targets as they were
can give those labels and that version back (`SidStore.undo`), and a successful one frees the labels
its chain no longer uses (`SidStore.release`). `srchain.chains.ChainService` does both.

SRv6 SIDs (`srv6_sids`) follow the same rules: one row per SID, keyed the same way, the address the
node's locator followed by a 16-bit function, the lowest free function of that locator first (functions
below FUNCTION_FIRST are left to the node's own End/End.X SIDs). The schema is versioned (`PRAGMA
user_version`); opening a store migrates it in one write transaction, so a store written before SRv6
(version 0) keeps its labels and versions.
"""

from __future__ import annotations

import ipaddress
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from srchain.errors import SrchainError
from srchain.model.inventory import FUNCTION_BITS
from srchain.model.spec import RESERVED_LABELS, SrBlock

# Version 0: labels and versions (every store before SRv6). Each later version is one migration step.
SCHEMA_V0 = """
CREATE TABLE IF NOT EXISTS sids (
    label    INTEGER PRIMARY KEY,
    chain    TEXT NOT NULL,
    segment  TEXT NOT NULL,
    instance TEXT NOT NULL,
    context  TEXT NOT NULL,
    since    INTEGER NOT NULL,          -- chain version that first used this SID
    created  REAL NOT NULL,
    UNIQUE (chain, segment, instance, context)
);
CREATE TABLE IF NOT EXISTS versions (
    chain    TEXT NOT NULL,
    version  INTEGER NOT NULL,
    digest   TEXT NOT NULL,
    created  REAL NOT NULL,
    PRIMARY KEY (chain, version)
);
"""
MIGRATIONS: tuple[str, ...] = (
    # 0 -> 1: SRv6 SIDs
    """
CREATE TABLE srv6_sids (
    sid      TEXT PRIMARY KEY,          -- the address, compressed: locator + function
    locator  TEXT NOT NULL,
    function INTEGER NOT NULL,
    chain    TEXT NOT NULL,
    segment  TEXT NOT NULL,
    instance TEXT NOT NULL,
    context  TEXT NOT NULL,
    since    INTEGER NOT NULL,
    created  REAL NOT NULL,
    UNIQUE (chain, segment, instance, context),
    UNIQUE (locator, function)
)
""",
)
SCHEMA_VERSION = len(MIGRATIONS)
BUSY_TIMEOUT_S = 30.0  # how long a writer waits for another's write lock
FUNCTION_FIRST = 0x0100  # functions 0x0000-0x00FF: the node's own (its End SID is often locator::)
FUNCTION_LAST = (1 << FUNCTION_BITS) - 1


def sid_address(locator: str, function: int) -> str:
    """The SID of `function` on `locator`: the function's bits right after the prefix, argument bits 0."""
    net = ipaddress.IPv6Network(locator)
    shift = 128 - net.prefixlen - FUNCTION_BITS
    return ipaddress.IPv6Address(int(net.network_address) | function << shift).compressed


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "srchain"


class BlockExhausted(SrchainError):
    pass


@dataclass
class Added:
    """What one allocation transaction created: new labels, and new (chain, version) rows."""

    labels: list[int] = field(default_factory=list)
    versions: list[tuple[str, int]] = field(default_factory=list)
    srv6: list[str] = field(default_factory=list)  # SRv6 SID addresses


@dataclass(frozen=True)
class Sid:
    label: int
    chain: str
    segment: str
    instance: str
    context: str
    since: int


@dataclass(frozen=True)
class Srv6Sid:
    sid: str
    locator: str
    function: int
    chain: str
    segment: str
    instance: str
    context: str
    since: int


class SidStore:
    def __init__(self, state_dir: str | Path | None = None) -> None:
        self.dir = Path(state_dir) if state_dir else default_state_dir()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "sids.sqlite"
        self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        self._db.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        self._wal()
        self._migrate()
        # Per block (start, end): every label in [start, floor) is allocated. Only allocations happen between
        # two deletions, so a floor holds until this store deletes (undo, release), a transaction rolls back,
        # or another connection commits (PRAGMA data_version changes): then the floors are forgotten.
        self._floors: dict[tuple[int, int], int] = {}
        self._data_version = -1

    def _wal(self) -> None:
        """Write-ahead log mode. Two processes opening a new store at once race for the switch, and SQLite
        answers the loser "database is locked" at once, without its busy handler: retry for as long as
        the busy timeout would have waited."""
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    self._db.close()
                    raise
                time.sleep(0.01)

    def _migrate(self) -> None:
        """Bring the store to SCHEMA_VERSION under the write lock (a concurrent opener waits, then finds
        it done); a store from a newer srchain is refused, untouched."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for statement in SCHEMA_V0.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise SrchainError(f"{self.path}: SID store schema version {version} is newer than this "
                                   f"srchain's {SCHEMA_VERSION}; use the srchain that wrote it")
            for step in MIGRATIONS[version:]:
                self._db.execute(step)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            self._db.execute("ROLLBACK")
            self._db.close()
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SidStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Allocation]:
        """All allocations of one plan happen in one transaction: all of them or none."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            data_version = int(self._db.execute("PRAGMA data_version").fetchone()[0])
            if data_version != self._data_version:  # another connection committed: its deletions are unknown
                self._floors.clear()
                self._data_version = data_version
            tx = Allocation(self._db, dict(self._floors))
            yield tx
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        self._floors = tx.floors

    def sids(self, chain: str | None = None) -> list[Sid]:
        q = "SELECT label, chain, segment, instance, context, since FROM sids"
        rows = self._db.execute(
            q + (" WHERE chain = ? ORDER BY label" if chain else " ORDER BY label"), (chain,) if chain else ()
        ).fetchall()
        return [Sid(*r) for r in rows]

    def srv6_sids(self, chain: str | None = None) -> list[Srv6Sid]:
        q = "SELECT sid, locator, function, chain, segment, instance, context, since FROM srv6_sids"
        rows = self._db.execute(
            q + (" WHERE chain = ? ORDER BY locator, function" if chain else " ORDER BY locator, function"),
            (chain,) if chain else (),
        ).fetchall()
        return [Srv6Sid(*r) for r in rows]

    def undo(self, added: Added) -> None:
        """Give back what one transaction allocated (its apply failed and changed nothing)."""
        with self.transaction() as tx:
            tx.floors.clear()
            self._db.executemany("DELETE FROM sids WHERE label = ?", [(label,) for label in added.labels])
            self._db.executemany("DELETE FROM srv6_sids WHERE sid = ?", [(sid,) for sid in added.srv6])
            self._db.executemany("DELETE FROM versions WHERE chain = ? AND version = ?", added.versions)

    def release(self, chain: str, keep: set[int | str]) -> list[int | str]:
        """Free the chain's SIDs (labels and SRv6 addresses) not in `keep` (called once an apply has
        drained the old version)."""
        return self.release_many({chain: keep})[chain]

    def release_many(self, keep: dict[str, set[int | str]]) -> dict[str, list[int | str]]:
        """`release` for several chains (chain -> SIDs to keep), in one transaction."""
        out: dict[str, list[int | str]] = {}
        with self.transaction() as tx:
            for chain, kept in keep.items():
                gone: list[int | str] = [r[0] for r in self._db.execute("SELECT label FROM sids WHERE chain = ?",
                                                                        (chain,)) if r[0] not in kept]
                self._db.executemany("DELETE FROM sids WHERE label = ?", [(label,) for label in gone])
                gone6 = [r[0] for r in self._db.execute("SELECT sid FROM srv6_sids WHERE chain = ?", (chain,))
                         if r[0] not in kept]
                self._db.executemany("DELETE FROM srv6_sids WHERE sid = ?", [(sid,) for sid in gone6])
                out[chain] = gone + gone6
                if gone:
                    tx.floors.clear()  # a label below a floor may be free now
        return out


class Allocation:
    """Operations valid inside one write transaction."""

    def __init__(self, db: sqlite3.Connection, floors: dict[tuple[int, int], int] | None = None) -> None:
        self._db = db
        self.added = Added()
        self.floors = floors if floors is not None else {}  # SidStore._floors as this transaction leaves them

    def version_for(self, chain: str, digest: str) -> int:
        """The chain's version for this content: the latest one if unchanged, else a new one."""
        row = self._db.execute(
            "SELECT version, digest FROM versions WHERE chain = ? ORDER BY version DESC LIMIT 1", (chain,)
        ).fetchone()
        if row and row[1] == digest:
            return int(row[0])
        version = (int(row[0]) if row else 0) + 1
        self._db.execute("INSERT INTO versions VALUES (?, ?, ?, ?)", (chain, version, digest, time.time()))
        self.added.versions.append((chain, version))
        return version

    def sid(self, chain: str, segment: str, instance: str, context: str, version: int, block: SrBlock) -> Sid:
        key = (chain, segment, instance, context)
        row = self._db.execute(
            "SELECT label, since FROM sids WHERE chain = ? AND segment = ? AND instance = ? AND context = ?", key
        ).fetchone()
        if row:
            return Sid(row[0], *key, since=row[1])
        label = self._lowest_free(block)
        if label is None:
            used = self._db.execute(
                "SELECT COUNT(*) FROM sids WHERE label BETWEEN ? AND ?", (block.start, block.end)
            ).fetchone()[0]
            raise BlockExhausted(
                f"SR block {block.start}-{block.end} is exhausted: all {used} labels are allocated "
                f"(chain '{chain}' needs one more for segment '{segment}', instance '{instance}')"
            )
        self._db.execute("INSERT INTO sids VALUES (?, ?, ?, ?, ?, ?, ?)", (label, *key, version, time.time()))
        self.added.labels.append(label)
        return Sid(label, *key, since=version)

    def _lowest_free(self, block: SrBlock) -> int | None:
        start = max(block.start, RESERVED_LABELS)
        # Labels below the block's floor are all allocated (SidStore._floors): search from there. Labels go out
        # lowest first, so the rest is mostly dense: then the lowest free label is one past the highest (one
        # query, no rows into Python: the scan below made planning N chains quadratic, and counting from the
        # block's start every time grew with the store).
        lo = max(start, self.floors.get((start, block.end), start))
        free = self._lowest_free_from(lo, block.end)
        if free is not None:
            self.floors[(start, block.end)] = free
        return free

    def _lowest_free_from(self, lo: int, end: int) -> int | None:
        top, count = self._db.execute(
            "SELECT MAX(label), COUNT(*) FROM sids WHERE label BETWEEN ? AND ?", (lo, end)
        ).fetchone()
        if top is None:
            return lo if lo <= end else None
        if count == top - lo + 1:
            return top + 1 if top < end else None
        expected = lo  # a gap (released labels): the first one
        rows = self._db.execute("SELECT label FROM sids WHERE label BETWEEN ? AND ? ORDER BY label", (lo, end))
        for (label,) in rows:
            if label != expected:
                return expected
            expected += 1
        return expected if expected <= end else None

    def srv6_sid(self, chain: str, segment: str, instance: str, context: str, version: int, locator: str) -> Srv6Sid:
        """The SRv6 SID for this key: the stored one, else the lowest free function of `locator`. The
        context should name the locator, so a node that moves to another locator gets new SIDs."""
        key = (chain, segment, instance, context)
        row = self._db.execute(
            "SELECT sid, locator, function, since FROM srv6_sids "
            "WHERE chain = ? AND segment = ? AND instance = ? AND context = ?", key
        ).fetchone()
        if row:
            return Srv6Sid(row[0], row[1], row[2], *key, since=row[3])
        used = {r[0] for r in self._db.execute("SELECT function FROM srv6_sids WHERE locator = ?", (locator,))}
        for function in range(FUNCTION_FIRST, FUNCTION_LAST + 1):
            if function in used:
                continue
            sid = sid_address(locator, function)
            if self._db.execute("SELECT 1 FROM srv6_sids WHERE sid = ?", (sid,)).fetchone() is None:
                break  # (a locator of another inventory may cover the same address)
        else:
            raise BlockExhausted(
                f"SRv6 locator {locator} is exhausted: functions {FUNCTION_FIRST:#06x}-{FUNCTION_LAST:#06x} are "
                f"all allocated (chain '{chain}' needs one more for segment '{segment}', instance '{instance}')"
            )
        self._db.execute("INSERT INTO srv6_sids VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (sid, locator, function, *key, version, time.time()))
        self.added.srv6.append(sid)
        return Srv6Sid(sid, locator, function, *key, since=version)
