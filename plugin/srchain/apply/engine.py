"""Apply a plan to live targets, make-before-break; status, reconcile and delete of applied chains.

apply: read what this chain's entries look like live → diff (plan.diff order) → (1) install on proxies
then switches, (2) flip, (3) wait until the old version's counters stop moving (bounded), (4) cleanup.
Consecutive operations on one target in one phase are one batch (one WriteRequest / one proxy batch).
A failed batch (or counters that cannot be read while draining): find out what of it landed (read
back), undo everything this apply wrote in reverse order, and raise ApplyError naming target, table and
entry. A driver's TargetError never leaves this module: every command turns it into an ApplyError.
Only entries this chain recorded or plans are ever touched; entries another applied chain also records
(shared routes, report groups, attachments) are never deleted. Time (timings, the drain's waits)
comes from an injectable `Clock`, so tests drain without sleeping.

Several sites (docs/multisite.md): given each target's site (`Controller(sites=...)`, from
`srchain.apply.sites.target_sites`), each phase runs one thread per site, each writing its own site's batches
in the diff's order; a phase ends when every site finished it, so every site has installed before any flips,
and every site has flipped before the drain and the cleanup. (Across sites, the order inside a phase is free:
an install is not reached before the flips, a cleanup not after the drain.) A failed batch in one site stops
the others after their batch in flight, and everything written in every site is undone: the flips of every
site first, then the installs (a cleanup's undo before both), each site in parallel, each in reverse order.
Reads go per site in parallel too: the live state an apply starts from, the drain's counter samples.
`apply_many` applies several chains' plans as one change (one read of each target, one diff, one drain).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol, TypeVar

from srchain.apply.state import AppliedStore
from srchain.errors import SrchainError
from srchain.plan.diff import diff
from srchain.plan.model import DiffOp, Entry, Phase, Plan, canonical
from srchain.plan.tables import write_rank
from srchain.targets.base import Driver, NKey, TargetError, describe

TargetId = tuple[str, str]  # (kind, name)
_PHASE = {"install": 0, "flip": 1, "cleanup": 2}
PHASES: tuple[Phase, ...] = ("install", "flip", "cleanup")
W = TypeVar("W")
R = TypeVar("R")


class ApplyError(SrchainError):
    """An apply, reconcile or delete that did not complete; the message says what failed and what was
    done about it. `unchanged`: the targets are as they were before the call (nothing was written, or
    everything written was undone); False when a rollback was incomplete or could not be checked."""

    def __init__(self, message: str, *, unchanged: bool = True, target: str | None = None,
                 table: str | None = None, entry: str | None = None, code: str | None = None,
                 reason: str | None = None) -> None:
        super().__init__(message, target=target, table=table, entry=entry, code=code, reason=reason)
        self.unchanged = unchanged

    @classmethod
    def before_any_write(cls, exc: TargetError) -> ApplyError:
        return cls(f"{exc}; nothing was changed", **exc.details())


class Clock(Protocol):
    """Where the engine reads time and waits (the drain): `SystemClock`, or a test's fake."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass
class Options:
    drain_timeout: float = 30.0  # give up waiting for the old version after this long (then clean up)
    drain_interval: float = 0.5  # counters equal across one interval = drained
    batch_size: int = 10_000  # operations per write request


@dataclass
class Result:
    ops: list[DiffOp] = field(default_factory=list)
    batches: int = 0
    notes: list[str] = field(default_factory=list)
    drained: bool | None = None  # None: nothing to drain
    timings: dict[str, float] = field(default_factory=dict)
    sites: dict[str, SiteRun] = field(default_factory=dict)  # several sites: what each did (ops, batches, time)


@dataclass
class SiteRun:
    """One site's share of an apply, reconcile or delete."""

    ops: int = 0
    batches: int = 0
    seconds: float = 0.0  # writing, summed over the phases (the site's threads)


@dataclass
class _Failure:
    site: str
    group: list[DiffOp]
    exc: TargetError
    landed_known: bool


class Drivers:
    """Opens one driver per target on first use (`factory(kind, name)`), prepares it once."""

    def __init__(self, factory: Callable[[str, str], Driver]) -> None:
        self.factory = factory
        self.open: dict[TargetId, Driver] = {}
        self.notes: list[str] = []
        self._lock = threading.Lock()

    def get(self, kind: str, name: str, load: bool = True) -> Driver:
        """The target's driver, prepared; `load=False` never pushes a program (read-only use)."""
        tid = (kind, name)
        if tid not in self.open:  # (the sites' threads each get their own targets)
            d = self.factory(kind, name)
            try:
                notes = d.prepare(load)
            except TargetError:
                d.close()
                raise
            with self._lock:
                self.notes += notes
                self.open[tid] = d
        return self.open[tid]

    def close(self) -> None:
        for d in self.open.values():
            d.close()
        self.open.clear()


def _by_target(entries: Iterable[Entry]) -> dict[TargetId, list[Entry]]:
    out: dict[TargetId, list[Entry]] = {}
    for e in entries:
        out.setdefault((e.target_kind, e.target), []).append(e)
    return out


def _per_site(work: Mapping[str, W], fn: Callable[[str, W], R]) -> list[R]:
    """`fn(site, work[site])` for every site: inline for one site, else one thread per site (all started, then
    all joined); results in `work`'s order. An exception raised in a site's thread is raised here (the first
    site's in `work`'s order)."""
    if len(work) <= 1:
        return [fn(site, w) for site, w in work.items()]
    results: dict[str, R] = {}
    errors: dict[str, BaseException] = {}

    def run(site: str, w: W) -> None:
        try:
            results[site] = fn(site, w)
        except BaseException as exc:  # handed to the caller's thread below
            errors[site] = exc

    threads = [threading.Thread(target=run, args=(site, w), name=f"srchain-site-{site}") for site, w in work.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for site in work:
        if site in errors:
            raise errors[site]  # the first site's, in `work`'s order
    return [results[site] for site in work]


def _inverse(op: DiffOp) -> DiffOp:
    if op.op == "add":
        return DiffOp("delete", op.phase, op.entry)
    if op.op == "delete":
        return DiffOp("add", op.phase, op.entry)
    assert op.previous is not None
    return DiffOp("modify", op.phase, op.previous, op.entry)


class Controller:
    def __init__(self, drivers: Drivers, store: AppliedStore, options: Options | None = None,
                 clock: Clock | None = None, sites: Mapping[TargetId, str] | None = None) -> None:
        """`sites`: each target's site (several sites: written in parallel per site); a target missing
        from it, or no map, is in the one unnamed site ""."""
        self.drivers = drivers
        self.store = store
        self.options = options or Options()
        self.clock = clock or SystemClock()
        self.sites = dict(sites or {})
        self._lock = threading.Lock()

    def site(self, e: Entry) -> str:
        return self.sites.get((e.target_kind, e.target), "")

    # ------------------------------------------------------------ live state
    def _live(self, entries: list[Entry]) -> dict[TargetId, dict[NKey, tuple[str, int | None]]]:
        """Each target's live entries of the tables `entries` use; the sites read in parallel."""
        out: dict[TargetId, dict[NKey, tuple[str, int | None]]] = {}
        for part in _per_site(self._targets_by_site(_by_target(entries)), self._read_site):
            out.update(part)
        return out

    def _targets_by_site(self, by_target: dict[TargetId, list[Entry]]) -> dict[str, dict[TargetId, list[Entry]]]:
        out: dict[str, dict[TargetId, list[Entry]]] = {}
        for tid, es in by_target.items():
            out.setdefault(self.sites.get(tid, ""), {})[tid] = es
        return out

    def _read_site(self, site: str, by_target: dict[TargetId, list[Entry]]
                   ) -> dict[TargetId, dict[NKey, tuple[str, int | None]]]:
        return {tid: self.drivers.get(*tid).snapshot({e.table for e in es}) for tid, es in by_target.items()}

    def _shared(self, chains: set[str]) -> set[tuple[str, str, str, str]]:
        """Identities other applied chains record: never deleted on these chains' behalf."""
        out: set[tuple[str, str, str, str]] = set()
        for other in self.store.chains():
            if other not in chains:
                out |= {e.identity for e in self.store.entries(other)}
        return out

    def _installed(self, wanted: list[Entry], recorded: list[Entry]) -> list[Entry]:
        try:
            return self._installed_unchecked(wanted, recorded)
        except TargetError as exc:  # a target that cannot be read, or lacks a table: nothing written yet
            raise ApplyError.before_any_write(exc) from None

    def _installed_unchecked(self, wanted: list[Entry], recorded: list[Entry]) -> list[Entry]:
        """This chain's entries as they are live: each live entry stands for the plan's or the recorded
        entry whose content it has. A live entry with foreign content that this chain never recorded
        belongs to someone else: refuse before writing anything."""
        want = {e.identity: e for e in wanted}
        rec = {e.identity: e for e in recorded}
        live = self._live(list({**rec, **want}.values()))
        out = []
        for ident in {**rec, **want}:
            w, r = want.get(ident), rec.get(ident)
            e = w or r
            assert e is not None
            drv = self.drivers.get(e.target_kind, e.target)
            nk = drv.norm(e)[0]
            got = live[(e.target_kind, e.target)].get(nk)
            if got is None:
                continue
            if w is not None and got[0] == drv.norm(w)[1]:
                out.append(w)
            elif r is not None:
                out.append(r)  # recorded entry (possibly drifted): restore/replace it like the recorded one
            else:
                raise ApplyError(f"{describe(e)}: already present with other content ({got[0]}) and not "
                                 "installed by this chain; nothing was changed", target=f"{e.target_kind} {e.target}",
                                 table=e.table, entry=canonical(e.key), reason="installed by someone else")
        return out

    # ------------------------------------------------------------ execution
    def _groups(self, ops: list[DiffOp]) -> list[list[DiffOp]]:
        groups: list[list[DiffOp]] = []
        for op in ops:
            key = (op.phase, op.entry.target_kind, op.entry.target)
            last = groups[-1] if groups else None
            if last and (last[0].phase, last[0].entry.target_kind, last[0].entry.target) == key \
                    and len(last) < self.options.batch_size:
                last.append(op)
            else:
                groups.append([op])
        return groups

    def _landed(self, group: list[DiffOp]) -> list[DiffOp]:
        """After a failed batch: the operations of it whose effect is visible on the target."""
        e0 = group[0].entry
        drv = self.drivers.get(e0.target_kind, e0.target)
        live = drv.snapshot({op.entry.table for op in group})
        out = []
        for op in group:
            nk, content = drv.norm(op.entry)
            got = live.get(nk)
            if (op.op == "delete" and got is None) or (op.op != "delete" and got is not None and got[0] == content):
                out.append(op)
        return out

    def _run(self, ops: list[DiffOp], result: Result, drain_before_cleanup: bool, rollback: bool = True) -> None:
        applied: dict[str, list[DiffOp]] = {}  # per site, in the order written
        t0 = self.clock.now()
        for phase in PHASES:
            phase_ops = [op for op in ops if op.phase == phase]
            if not phase_ops:
                continue
            if phase == "cleanup":
                result.timings["install+flip_s"] = self.clock.now() - t0
                if drain_before_cleanup:
                    td = self.clock.now()
                    try:
                        result.drained = self._drain([op.entry for op in phase_ops])
                    except TargetError as exc:  # the old version's state is unknown: back to it, cleanup undone
                        raise self._abort(f"{exc.target}: reading the counters to drain the old version "
                                          f"failed: {exc.message}", exc, applied, True, rollback) from None
                    result.timings["drain_s"] = self.clock.now() - td
            by_site: dict[str, list[DiffOp]] = {}
            for op in phase_ops:
                by_site.setdefault(self.site(op.entry), []).append(op)
            for site in by_site:
                applied.setdefault(site, [])
            failures = [f for f in _per_site(by_site, partial(self._write_site, applied=applied, result=result,
                                                                   stop=threading.Event())) if f]
            if failures:
                first = failures[0]
                what = self._failure(first.group, first.exc)
                if len(by_site) > 1 or self.sites:
                    what = f"site {first.site or '-'}: {what}"
                    for other in failures[1:]:
                        what += f"; also site {other.site or '-'}: {self._failure(other.group, other.exc)}"
                raise self._abort(what, first.exc, applied, all(f.landed_known for f in failures), rollback,
                                  first.group) from None
        result.timings.setdefault("install+flip_s", self.clock.now() - t0)
        result.timings["total_s"] = self.clock.now() - t0

    def _write_site(self, site: str, ops: list[DiffOp], *, applied: dict[str, list[DiffOp]], result: Result,
                    stop: threading.Event) -> _Failure | None:
        """One site's operations of one phase, batch by batch, until done, a batch fails or another site's did;
        what landed goes to `applied[site]`."""
        with self._lock:
            run = result.sites.setdefault(site, SiteRun()) if (self.sites or site) else None
        t = time.monotonic()
        try:
            for group in self._groups(ops):
                if stop.is_set():
                    return None
                e0 = group[0].entry
                try:
                    self.drivers.get(e0.target_kind, e0.target).write(group)
                except TargetError as exc:
                    stop.set()
                    known = True
                    try:
                        applied[site] += self._landed(group)
                    except TargetError:  # unreachable: nothing of that batch can be undone
                        known = False
                    return _Failure(site, group, exc, known)
                applied[site] += group
                with self._lock:  # the sites' threads share the result
                    result.batches += 1
                    if run is not None:
                        run.ops += len(group)
                        run.batches += 1
            return None
        finally:
            if run is not None:
                with self._lock:
                    run.seconds += time.monotonic() - t

    def _abort(self, what: str, exc: TargetError, applied: dict[str, list[DiffOp]], landed_known: bool,
               rollback: bool, group: list[DiffOp] | None = None) -> ApplyError:
        """The error for a failed run, after undoing what it wrote in every site (when `rollback`)."""
        complete = True
        if rollback:
            text, complete = self._rollback(applied)
            what += text
        unchanged = landed_known and complete and (rollback or not any(applied.values()))
        op = self._failed_op(group, exc) if group else None
        if op is None:
            return ApplyError(what, unchanged=unchanged, **exc.details())
        return ApplyError(what, unchanged=unchanged, target=f"{op.entry.target_kind} {op.entry.target}",
                          table=op.entry.table, entry=canonical(op.entry.key), code=exc.code, reason=exc.message)

    @staticmethod
    def _failed_op(group: list[DiffOp], exc: TargetError) -> DiffOp | None:
        index = 0 if len(group) == 1 else exc.index
        return group[index] if index is not None and 0 <= index < len(group) else None

    @classmethod
    def _failure(cls, group: list[DiffOp], exc: TargetError) -> str:
        op = cls._failed_op(group, exc)
        if op is not None:
            return f"{describe(op.entry)}: {op.op} failed: {exc.message}"
        first = f"{group[0].op} {describe(group[0].entry)}"
        return f"{exc.target}: a batch of {len(group)} ({first} ...) failed: {exc.message}"

    def _rollback(self, applied: dict[str, list[DiffOp]]) -> tuple[str, bool]:
        """Undo what every site applied: (what to add to the message, whether all of it was undone). One site:
        its operations in reverse order. Several: phase by phase from the last (flips before installs), each
        site's share of a phase in reverse order, the sites in parallel."""
        count = sum(len(ops) for ops in applied.values())
        if not count:
            return "; nothing had been changed", True
        if len(applied) == 1:
            steps = [applied]
        else:
            steps = [{site: [op for op in ops if op.phase == phase] for site, ops in applied.items()}
                     for phase in reversed(PHASES)]
        failed: list[str] = []
        lock = threading.Lock()

        def undo(site: str, ops: list[DiffOp]) -> _Failure | None:
            for group in self._groups_in_order([_inverse(op) for op in reversed(ops)]):
                e0 = group[0].entry
                try:
                    self.drivers.get(e0.target_kind, e0.target).write(group)
                except TargetError as exc:
                    with lock:
                        failed.append(self._failure(group, exc))
            return None

        for step in steps:
            _per_site({site: ops for site, ops in step.items() if ops}, undo)
        if failed:
            return (f"; ROLLBACK INCOMPLETE ({len(failed)} batch(es) failed: {'; '.join(failed)}): "
                    "run `srchain chain reconcile`"), False
        touched = [s or "-" for s in sorted(applied) if applied[s]]
        where = f" in site{'s' if len(touched) > 1 else ''} {', '.join(touched)}" if len(applied) > 1 else ""
        return f"; rolled back {count} operation(s){where}: the previous version is in place", True

    def _groups_in_order(self, ops: list[DiffOp]) -> list[list[DiffOp]]:
        groups: list[list[DiffOp]] = []
        for op in ops:
            if groups and (groups[-1][0].entry.target_kind, groups[-1][0].entry.target) == \
                    (op.entry.target_kind, op.entry.target):
                groups[-1].append(op)
            else:
                groups.append([op])
        return groups

    def _drain(self, entries: list[Entry]) -> bool:
        """Wait until the packet counters of the entries about to be deleted stop moving."""
        deadline = self.clock.now() + self.options.drain_timeout
        by_target = _by_target(entries)
        keys = {tid: {self.drivers.get(*tid).norm(e)[0] for e in es} for tid, es in by_target.items()}

        def sample() -> dict[Any, int | None]:
            out: dict[Any, int | None] = {}
            for tid, live in self._live(entries).items():
                out.update({(tid, k): live.get(k, (None, None))[1] for k in keys[tid]})
            return out

        before = sample()
        if all(v is None for v in before.values()):
            return True  # nothing to watch (no counters on these entries)
        while True:
            self.clock.sleep(min(self.options.drain_interval, max(0.0, deadline - self.clock.now())))
            now = sample()
            if now == before:
                return True
            if self.clock.now() >= deadline:
                return False
            before = now

    # ------------------------------------------------------------ commands
    def apply(self, plan: Plan) -> Result:
        return self.apply_many([plan])

    def apply_many(self, plans: list[Plan]) -> Result:
        """Apply several chains' plans as one make-before-break change: every chain's installs (every site),
        then every chain's flips, one drain, then every cleanup; all of it is undone if any of it fails.
        Rows two chains share (routes, WAN decapsulation, attachments) are written once; two plans that want
        different content under one key are refused before anything is written. Each chain's applied state
        is saved once everything is in place."""
        chains = [p.chain for p in plans]
        if len(set(chains)) != len(chains):
            raise ApplyError(f"chains planned twice in one apply: {sorted({c for c in chains if chains.count(c) > 1})}")
        result = Result()
        wanted: dict[tuple[str, str, str, str], Entry] = {}
        owner: dict[tuple[str, str, str, str], str] = {}
        for plan in plans:
            for e in plan.entries:
                old = wanted.setdefault(e.identity, e)
                if old is not e and old.content != e.content:
                    raise ApplyError(f"{describe(e)}: chains '{owner[e.identity]}' and '{plan.chain}' plan different "
                                     f"content ({old.content} vs {e.content}); nothing was changed",
                                     target=f"{e.target_kind} {e.target}", table=e.table, entry=canonical(e.key),
                                     reason="conflicting plans")
                owner.setdefault(e.identity, plan.chain)
        recorded_by_id: dict[tuple[str, str, str, str], Entry] = {}
        for chain in chains:
            for e in self.store.entries(chain):
                recorded_by_id.setdefault(e.identity, e)
        recorded = list(recorded_by_id.values())
        want = list(wanted.values())
        self._prepare({(e.target_kind, e.target) for e in want + recorded})
        installed = self._installed(want, recorded)
        shared = self._shared(set(chains))
        ops = [op for op in diff(want, installed) if not (op.op == "delete" and op.entry.identity in shared)]
        result.ops = ops
        self._run(ops, result, drain_before_cleanup=True)
        t = self.clock.now()
        self.store.save_many(plans)
        if len(plans) > 1:
            result.timings["save_s"] = self.clock.now() - t
        result.notes = self.drivers.notes
        if result.drained is False:
            result.notes.append(f"the old version was still counting packets after {self.options.drain_timeout}s; "
                                "cleaned up anyway")
        return result

    def _prepare(self, targets: set[TargetId]) -> None:
        # Proxies first, then switches: a program push wipes a switch; do it only once every proxy answers.
        # Each stage per site in parallel (in a site, in name order).
        for stage in ([t for t in targets if t[0] == "proxy"], [t for t in targets if t[0] != "proxy"]):
            by_site: dict[str, list[TargetId]] = {}
            for tid in sorted(stage):
                by_site.setdefault(self.sites.get(tid, ""), []).append(tid)
            try:
                _per_site(by_site, lambda site, tids: [self.drivers.get(*tid) for tid in tids])
            except TargetError as exc:
                raise ApplyError.before_any_write(exc) from None

    def status(self, chain: str) -> dict[str, Any]:
        """Per target: intended entries, how many are live as intended, which are missing or differ."""
        recorded = self.store.entries(chain)
        if not recorded and self.store.load(chain) is None:
            raise ApplyError(f"chain {chain} has not been applied (no {self.store.path(chain)})")
        report: dict[str, Any] = {}
        for tid, es in sorted(_by_target(recorded).items()):
            row: dict[str, Any] = {"intended": len(es), "ok": 0, "missing": [], "differs": []}
            if self.sites:
                row["site"] = self.sites.get(tid, "")
            report[f"{tid[0]} {tid[1]}"] = row
            try:
                drv = self.drivers.get(*tid, load=False)
                live = drv.snapshot({e.table for e in es})
            except TargetError as exc:
                row["error"] = str(exc)
                continue
            for e in es:
                nk, content = drv.norm(e)
                got = live.get(nk)
                if got is None:
                    row["missing"].append(describe(e))
                elif got[0] != content:
                    row["differs"].append(describe(e))
                else:
                    row["ok"] += 1
        return report

    def reconcile(self, chain: str) -> Result:
        """Re-install the recorded state where it is missing or changed (after a target restart; a
        switch that lost its program gets it pushed again first)."""
        recorded = self.store.entries(chain)
        if not recorded:
            raise ApplyError(f"chain {chain} has not been applied (no {self.store.path(chain)})")
        self._prepare({(e.target_kind, e.target) for e in recorded})
        try:
            live = self._live(recorded)
        except TargetError as exc:
            raise ApplyError.before_any_write(exc) from None
        ops = []
        for e in recorded:
            drv = self.drivers.get(e.target_kind, e.target)
            nk, content = drv.norm(e)
            got = live[(e.target_kind, e.target)].get(nk)
            phase: Phase = "flip" if e.flips else "install"
            if got is None:
                ops.append(DiffOp("add", phase, e))
            elif got[0] != content:
                ops.append(DiffOp("modify", phase, e, e))
        ops.sort(key=lambda op: (_PHASE[op.phase], op.entry.target_kind != "proxy", write_rank(op.entry.table, op.op),
                                 op.entry.identity))
        result = Result(ops=ops)
        self._run(ops, result, drain_before_cleanup=False, rollback=False)
        result.notes = self.drivers.notes
        return result

    def delete(self, chain: str) -> Result:
        """Remove every entry of the chain (flip entries first, drain, then the rest) and its record."""
        recorded = self.store.entries(chain)
        if self.store.load(chain) is None:
            raise ApplyError(f"chain {chain} has not been applied (no {self.store.path(chain)})")
        self._prepare({(e.target_kind, e.target) for e in recorded})
        installed = self._installed([], recorded)
        shared = self._shared({chain})
        result = Result(ops=[op for op in diff([], installed) if op.entry.identity not in shared])
        self._run(result.ops, result, drain_before_cleanup=True)
        self.store.remove(chain)
        result.notes = self.drivers.notes
        return result
