"""The chain lifecycle as one service: plan, apply, status, reconcile, delete (docs/controller.md).

`ChainService` owns the state directory (SID store and applied state) and loads its inputs once: the
inventory when it is made, a spec with `load`. The `srchain chain` commands, the controller charm and
the demo testbed all go through it, so the order of work and the SID guarantees live in one place:

- plan: SIDs allocated (or reused) and the chain version, committed in one SQLite transaction, so
  concurrent srchain processes never share a label; then every entry.
- apply: plan, then the engine (make-before-break; it rolls back what it wrote when a step fails).
  Success: the SIDs the chain no longer uses are released. A failure that left the targets as they
  were (`ApplyError.unchanged`): the labels and version this apply allocated are given back. After an
  incomplete rollback they stay reserved (entries using them may still be live) until the chain's next
  successful apply releases them: a label is never free while a target may still hold it.
- delete: the engine removes the chain, then every SID of it is released.
- apply_many: several chains planned in one SID transaction and applied as one change (the engine's
  `apply_many`); their SIDs follow the batch's outcome as one chain's follow its apply.

With sites (docs/multisite.md), the engine writes each site's targets in a thread of its own and undoes every
site when one fails; timeouts, retries and the drain interval follow the WAN's delays (`srchain.apply.sites`).

Writers of one chain (plan, apply, reconcile, delete) hold `<state-dir>/locks/<chain>.lock` from the
plan's allocation to the release (or undo), so no other srchain process plans or changes that chain
in between. Every failure is a `SrchainError` whose message names the chain and what was left in place.
"""

from __future__ import annotations

import fcntl
import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srchain.apply.engine import ApplyError, Clock, Controller, Drivers, Options, Result, SystemClock
from srchain.apply.factory import driver_factory
from srchain.apply.sites import target_sites, wan_options
from srchain.apply.state import AppliedStore, StateError
from srchain.errors import SrchainError
from srchain.model.inventory import Inventory
from srchain.model.load import ChainModel, load_chain_on, load_inventory
from srchain.plan.builder import plan_in
from srchain.plan.diff import diff
from srchain.plan.errors import PlanError
from srchain.plan.iproute2 import NotRendered, ip_args
from srchain.plan.model import Entry, Plan, entries_from_state
from srchain.sidstore import BlockExhausted, SidStore, default_state_dir
from srchain.targets.base import Driver

# How the service reaches targets: (inventory, folder its relative paths are relative to) -> factory(kind, name)
Connect = Callable[[Inventory, Path], Callable[[str, str], Driver]]


@dataclass(frozen=True)
class Outcome:
    """What a reconcile or delete did to the targets and the SID store."""

    chain: str
    result: Result
    released: list[int | str] = field(default_factory=list)  # labels, SRv6 addresses freed (apply: old version)


@dataclass(frozen=True, kw_only=True)
class Applied(Outcome):
    """What an apply did, and the plan now applied."""

    plan: Plan


def read_current(path: str | Path) -> list[Entry]:
    """Installed entries from a state file or an earlier plan's JSON (`srchain chain plan --current`)."""
    try:
        return entries_from_state(json.loads(Path(path).read_text()))
    except (OSError, ValueError) as exc:
        raise SrchainError(f"{path}: not a usable current state: {exc}") from None


class ChainService:
    """The lifecycle of the chains of one inventory and one state directory (see the module docstring)."""

    def __init__(self, inventory: str | Path, state_dir: str | Path | None = None, *,
                 options: Options | None = None, connect: Connect | None = None, clock: Clock | None = None,
                 lock_wait: float = 120.0) -> None:
        """Loads and checks the inventory (SpecError with every issue). `connect`: how targets are
        reached (default: `driver_factory`, BF Runtime and the proxy control API); `lock_wait`: how long
        a writer waits for another process that is changing the same chain."""
        self.inventory_file = Path(inventory)
        self.inventory, _ = load_inventory(self.inventory_file)
        self.state_dir = Path(state_dir) if state_dir is not None else default_state_dir()
        self.applied = AppliedStore(self.state_dir)
        self.options = wan_options(self.inventory, options or Options())
        self.connect = connect or driver_factory
        self.clock = clock or SystemClock()
        self.lock_wait = lock_wait

    def load(self, spec: str | Path) -> ChainModel:
        """The spec, checked against the service's inventory; SpecError with every issue."""
        return load_chain_on(spec, self.inventory, self.inventory_file)

    # ------------------------------------------------------------ commands
    def plan(self, model: ChainModel, current: list[Entry] | None = None) -> Plan:
        """Allocate (or reuse) the chain's SIDs and compute every entry; with `current`, also the diff
        against those installed entries, in apply order."""
        with self._chain_lock(model.spec.chain), self._sids() as sids, _planning(model), sids.transaction() as tx:
            plan = plan_in(model, tx)
        if current is not None:
            plan.diff = diff(plan.entries, current)
        return plan

    def apply(self, model: ChainModel) -> Applied:
        """Plan and install the chain make-before-break; see the module's docstring for the SIDs."""
        chain = model.spec.chain
        with self._chain_lock(chain), self._sids() as sids:
            with _planning(model), sids.transaction() as tx:
                plan = plan_in(model, tx)
                _node_entries_renderable(plan)  # refused here, nothing is allocated or written
            try:
                with self._controller() as ctl:
                    result = ctl.apply(plan)
            except ApplyError as exc:
                if exc.unchanged:
                    sids.undo(tx.added)
                raise ApplyError(f"apply of chain '{chain}' v{plan.version} failed: {exc}", unchanged=exc.unchanged,
                                 **exc.details()) from None
            released = sids.release(chain, {s.sid for s in plan.sids})
        return Applied(chain=chain, result=result, released=released, plan=plan)

    def apply_many(self, models: list[ChainModel]) -> list[Applied]:
        """Plan every chain (one SID transaction) and apply them as one make-before-break change; every
        chain's `Applied` carries the one `Result`. On failure, as `apply`: the batch's SIDs are given back
        when the targets are unchanged."""
        chains = [m.spec.chain for m in models]
        with ExitStack() as held:
            for chain in sorted(set(chains)):
                held.enter_context(self._chain_lock(chain))
            sids = held.enter_context(self._sids())
            with sids.transaction() as tx:
                plans = []
                for model in models:
                    with _planning(model):
                        plans.append(plan_in(model, tx))
                        _node_entries_renderable(plans[-1])
            try:
                with self._controller() as ctl:
                    result = ctl.apply_many(plans)
            except ApplyError as exc:
                if exc.unchanged:
                    sids.undo(tx.added)
                raise ApplyError(f"apply of {len(plans)} chain(s) ({', '.join(chains[:3])}"
                                 f"{', ...' if len(chains) > 3 else ''}) failed: {exc}", unchanged=exc.unchanged,
                                 **exc.details()) from None
            released = sids.release_many({p.chain: {s.sid for s in p.sids} for p in plans})
        return [Applied(chain=p.chain, result=result, released=released[p.chain], plan=p) for p in plans]

    def status(self, chain: str) -> dict[str, Any]:
        """Per target: entries intended, live as intended, missing, differing (or why it cannot be read)."""
        with self._controller() as ctl:
            return ctl.status(chain)  # reads only: never pushes a program

    def reconcile(self, chain: str) -> Outcome:
        """Re-install the applied state where it is missing or changed (after a target restart)."""
        with self._chain_lock(chain), self._controller() as ctl, _failing("reconcile", chain):
            return Outcome(chain, ctl.reconcile(chain))

    def delete(self, chain: str) -> Outcome:
        """Remove the chain from every target (flip entries first, drain, then the rest); free its SIDs."""
        with self._chain_lock(chain), self._sids() as sids:
            with self._controller() as ctl, _failing("delete", chain):
                result = ctl.delete(chain)
            released = sids.release(chain, set())
        return Outcome(chain, result, released=released)

    # ------------------------------------------------------------ resources
    @contextmanager
    def _controller(self) -> Iterator[Controller]:
        """The engine over the inventory's targets; drivers are opened on first use and closed after."""
        drivers = Drivers(self.connect(self.inventory, self.inventory_file.resolve().parent))
        try:
            yield Controller(drivers, self.applied, self.options, self.clock, sites=target_sites(self.inventory))
        finally:
            drivers.close()

    @contextmanager
    def _sids(self) -> Iterator[SidStore]:
        try:
            with SidStore(self.state_dir) as store:
                yield store
        except sqlite3.Error as exc:  # e.g. another process held the write lock longer than the busy timeout
            raise StateError(f"SID store {self.state_dir / 'sids.sqlite'}: {exc}") from None

    @contextmanager
    def _chain_lock(self, chain: str) -> Iterator[None]:
        path = self.state_dir / "locks" / f"{self.applied.path(chain).stem}.lock"  # path(): a safe file name
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            f = open(path, "a")  # noqa: SIM115 - held for the duration of the operation
        except OSError as exc:
            raise StateError(f"{path}: {exc.strerror}") from None
        try:
            waited = 0.0
            while True:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if waited >= self.lock_wait:
                        raise SrchainError(f"chain '{chain}' is busy: another srchain process is changing it "
                                           f"(holds {path}); nothing was done") from None
                    self.clock.sleep(0.1)
                    waited += 0.1
            yield
        finally:
            f.close()  # releases the lock


def _node_entries_renderable(plan: Plan) -> None:
    """Every Linux node entry has an iproute2 form (srchain.plan.iproute2), else the apply is refused before
    it starts rather than rolled back half-way."""
    for e in plan.entries:
        if e.target_kind == "node":
            try:
                ip_args(e)
            except NotRendered as exc:
                raise PlanError(f"chain '{plan.chain}': cannot apply: {exc}") from None


@contextmanager
def _planning(model: ChainModel) -> Iterator[None]:
    """Planning refusals name the spec file, as validation issues do."""
    try:
        yield
    except PlanError as exc:
        raise PlanError(f"{model.spec_file}: {exc}") from None
    except BlockExhausted as exc:
        raise BlockExhausted(f"{model.spec_file}: {exc}") from None


@contextmanager
def _failing(what: str, chain: str) -> Iterator[None]:
    try:
        yield
    except ApplyError as exc:
        raise ApplyError(f"{what} of chain '{chain}' failed: {exc}", unchanged=exc.unchanged,
                         **exc.details()) from None
