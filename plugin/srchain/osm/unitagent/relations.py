"""Juju relations between the units of one model, for the unit-agent stand-in (a stand-in, NOT Juju).

`Relations` is the model's relation store: a JSON file (its format: `hooktools.py`, "relations") that the units'
hook tools read (`SRCHAIN_RELATIONS_STATE`) under a file lock, and the in-process registry of the model's units.
It does what the controller and each unit's uniter do for relations:

  * `relate(provider, endpoint, requirer, endpoint)` = `juju integrate` / libjuju `Model.add_relation` → the
    Application facade's `AddRelation` (`state.InferEndpoints` + `state.AddRelation`). Refused, with nothing
    changed (`JujuRefusal`): an endpoint its charm's metadata.yaml does not declare, `application "x" has no "y"
    relation` (`Application.Endpoint`); endpoints that cannot relate (not provides ↔ requires, or different
    interfaces; `Endpoint.CanRelateTo`) `no relations found` (`InferEndpoints`); the same endpoints again
    `cannot add relation "<key>": relation <key> already exists` (`AddRelation`: `errors.AlreadyExistsf("relation
    %v", key)` under `cannot add relation %q`; the key is `<requirer app>:<ep> <provider app>:<ep>`, requirer first
    as `relationKey`/`NaturalKey` order roles). N2VC's `add_relation` takes any "already exists" as done; libjuju
    3.x's `Model.add_relation` looks for "relation already exists" only, which this text (the key in between)
    does not contain, so the error reaches N2VC. Units of different models: refused, the stand-in's text
    (cross-model relations are not modelled).
  * Relation ids count from 0 (`sequence(st, "relation")`); hooks see them as `<endpoint>:<id>`.
  * The hooks each unit then runs come from a port of the uniter's relation resolver
    (`worker/uniter/relation/resolver.go`): `<ep>-relation-created` first (the created-relation resolver), then,
    per relation, a pending `-changed` right after its `-joined`, `-departed` for members no longer in scope,
    `-broken` when the relation is dying, `-changed` with no remote unit when the remote application's databag
    changed (only once it has been written: version 0 never fires), `-joined` for new remote units, `-changed`
    for remote units whose databag changed. Environment: `JUJU_RELATION`, `JUJU_RELATION_ID=<ep>:<id>`,
    `JUJU_REMOTE_UNIT` (set, empty when none), `JUJU_REMOTE_APP`, `JUJU_DEPARTING_UNIT` on -departed
    (`HookContext.HookVars`); for a removed relation the departing unit is the remote one (the local unit and
    application are alive).
  * A hook's relation-set writes reach the store only when it exits 0 (`Unit`, Juju's relation-set doc); a commit
    that changed a databag is delivered (`settle`) as `-changed` to the other side, and so on until nothing
    changes, at most `MAX_ROUNDS` passes (`RelationsUnsettled` beyond: a charm pair that never agrees).

Concurrency: each unit runs one hook at a time (`Unit`'s lock); delivery (`settle`) is serialized by this store's
lock and never holds a unit's lock while it waits for another's; a unit's own hook or action delivers what it
committed after it released its own lock. Delivery in the stand-in is round-robin (one hook per unit and relation per
pass, in relation-id order, provider side first); Juju's agents run concurrently, so only each unit's own order is
Juju's. Not modelled: peer relations, more than one unit per application, subordinates, cross-model relations,
`private-address`/`ingress-address`/`egress-subnets` (Juju writes them into each unit's databag when it enters
scope), holding a unit's relation hooks until its install ran, holding a unit in error's later hooks until `juju
resolved` (here they run) and retrying the failed one (here it is not run again).
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from srchain.errors import SrchainError
from srchain.osm.unitagent import hooktools
from srchain.osm.unitagent.unit import HookFailed, JujuRefusal

if TYPE_CHECKING:
    from srchain.osm.unitagent.unit import Unit

MAX_ROUNDS = 50  # passes of one settle before it gives up (RelationsUnsettled)
ROLES = {"provides": "provider", "requires": "requirer"}


class RelationsUnsettled(SrchainError):
    """Relation hooks kept changing data for MAX_ROUNDS passes (Juju would go on forever)."""


@dataclass(frozen=True)
class RelationEvent:
    """One relation hook for one unit, with what Juju puts in its environment."""

    relation_id: int
    unit: str  # the unit that runs it
    kind: str  # created | joined | changed | departed | broken
    endpoint: str  # the unit's own endpoint (JUJU_RELATION)
    remote_app: str
    remote_unit: str = ""  # empty: none (created, broken, an application-databag -changed)
    departing_unit: str = ""

    @property
    def hook(self) -> str:
        return f"{self.endpoint}-relation-{self.kind}"

    def env(self) -> dict[str, str]:
        """HookContext.HookVars for a relation hook."""
        env = {"JUJU_RELATION": self.endpoint, "JUJU_RELATION_ID": f"{self.endpoint}:{self.relation_id}",
               "JUJU_REMOTE_UNIT": self.remote_unit, "JUJU_REMOTE_APP": self.remote_app}
        if self.departing_unit:
            env["JUJU_DEPARTING_UNIT"] = self.departing_unit
        return env

    def context(self) -> dict[str, Any]:
        """What the hook tools read as the hook's relation (`relation_hook` in the unit's state)."""
        return {"id": self.relation_id, "endpoint": self.endpoint, "remote_unit": self.remote_unit,
                "remote_app": self.remote_app, "departing_unit": self.departing_unit}


def _endpoints(unit: Unit) -> dict[str, tuple[str, str]]:
    """endpoint → (role, interface) as the unit's charm declares them (metadata.yaml provides / requires)."""
    meta = yaml.safe_load((unit.charm_dir / "metadata.yaml").read_text()) or {}
    out: dict[str, tuple[str, str]] = {}
    for section, role in (*ROLES.items(), ("peers", "peer")):
        for name, spec in (meta.get(section) or {}).items():
            interface = spec.get("interface") if isinstance(spec, dict) else spec
            out[str(name)] = (role, str(interface))
    return out


class Relations:
    """The relation store of one model, shared by its units (`Unit(..., relations=store)`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file():
            path.write_text(json.dumps({"next_id": 0, "relations": {}}, indent=1))
        self._units: dict[str, Unit] = {}
        self._settle_lock = threading.Lock()
        self.log: list[tuple[str, str, str]] = []  # (unit, hook, remote unit) of every relation hook run
        # what went wrong in a delivery no caller waited for (`deliver`): HookFailed, RelationsUnsettled
        self.failures: list[SrchainError] = []

    # --- the store ------------------------------------------------------------------------------------------
    @contextmanager
    def _store(self, write: bool = True) -> Iterator[dict[str, Any]]:
        with hooktools.LockedJson(self.path, write=write) as doc:
            yield doc

    def data(self, relation_id: int) -> dict[str, dict[str, str]]:
        """The relation's committed databags, by unit and application name."""
        with self._store(write=False) as doc:
            rel = doc["relations"].get(str(relation_id))
            if rel is None:
                raise KeyError(f"relation {relation_id} not found")
            return copy.deepcopy(rel["data"])

    def ids(self) -> list[int]:
        """The model's relations (dying ones until both sides ran relation-broken)."""
        with self._store(write=False) as doc:
            return sorted(int(k) for k in doc["relations"])

    def register(self, unit: Unit) -> None:
        """`unit` belongs to this model: its hooks see this store (Unit does this when given the store; `relate`
        for a unit that has none). JujuRefusal for a second application of that name or a unit of another store."""
        self._check(unit)
        unit.relations = self
        self._units[unit.name] = unit

    def _check(self, unit: Unit) -> None:
        known = self._units.get(unit.name)
        if known is not None and known is not unit:
            raise JujuRefusal(f'cannot add application "{unit.application}": application already exists')
        if unit.relations is not None and unit.relations is not self:
            raise JujuRefusal(f"{unit.name} belongs to another model's relation store ({unit.relations.path}): "
                              "cross-model relations are not modelled by this stand-in")

    # --- juju integrate / remove-relation -------------------------------------------------------------------
    def relate(self, provider: Unit, provider_endpoint: str, requirer: Unit, requirer_endpoint: str) -> int:
        """`juju integrate <provider>:<ep> <requirer>:<ep>`: the relation's id, after the hooks it causes ran
        (created, joined, changed on both sides, then every -changed the data they set causes). JujuRefusal
        before anything changed; HookFailed when one of the hooks failed (the relation stays)."""
        if provider.model != requirer.model:
            raise JujuRefusal(f'cannot relate units of models "{provider.model}" and "{requirer.model}": '
                              "cross-model relations are not modelled by this stand-in")
        for unit in (provider, requirer):
            self._check(unit)
        ends = []
        for unit, endpoint in ((provider, provider_endpoint), (requirer, requirer_endpoint)):
            declared = _endpoints(unit)
            if endpoint not in declared:
                raise JujuRefusal(f'application "{unit.application}" has no "{endpoint}" relation')
            ends.append(declared[endpoint])
        (prov_role, prov_iface), (req_role, req_iface) = ends
        if (provider.application == requirer.application or prov_role != "provider" or req_role != "requirer"
                or prov_iface != req_iface):
            raise JujuRefusal("no relations found")
        key = f"{requirer.application}:{requirer_endpoint} {provider.application}:{provider_endpoint}"
        with self._settle_lock:
            with self._store() as doc:
                if any(rel["key"] == key for rel in doc["relations"].values()):
                    raise JujuRefusal(f'cannot add relation "{key}": relation {key} already exists')
                rid = int(doc["next_id"])
                doc["next_id"] = rid + 1
                names = [provider.name, requirer.name, provider.application, requirer.application]
                doc["relations"][str(rid)] = {
                    "key": key, "interface": prov_iface, "dying": False,
                    "endpoints": {provider.application: provider_endpoint, requirer.application: requirer_endpoint},
                    "roles": {provider.application: "provider", requirer.application: "requirer"},
                    "units": {provider.application: [provider.name], requirer.application: [requirer.name]},
                    "data": {n: {} for n in names}, "versions": dict.fromkeys(names, 0),
                    "seen": {u.name: {"created": False, "broken": False, "members": {}, "apps": {},
                                      "changed_pending": None} for u in (provider, requirer)}}
            for unit in (provider, requirer):
                self.register(unit)
            self._settle_locked(raise_failures=True)
        return rid

    def remove(self, relation_id: int) -> None:
        """`juju remove-relation <id>`: -departed then -broken on each side; the relation and its data are gone
        once both ran relation-broken (again on a dying one: what is left of that). JujuRefusal for an unknown id
        (`State.Relation`: `relation N not found`)."""
        with self._settle_lock:
            with self._store() as doc:
                rel = doc["relations"].get(str(relation_id))
                if rel is None:
                    raise JujuRefusal(f"relation {relation_id} not found")
                rel["dying"] = True
            self._settle_locked(raise_failures=True)

    def settle(self) -> list[RelationEvent]:
        """Deliver every pending relation hook (what committed data changes cause); the hooks run. HookFailed on
        the first failure, RelationsUnsettled after MAX_ROUNDS passes."""
        with self._settle_lock:
            return self._settle_locked(raise_failures=True)

    def deliver(self) -> None:
        """What a unit's own hook or action committed, delivered (Unit calls this after releasing its lock); a
        failing hook here leaves its unit in error and is kept in `failures`, not raised to that caller."""
        with self._settle_lock:
            try:
                self._settle_locked(raise_failures=False)
            except RelationsUnsettled as e:
                self.failures.append(e)

    def commit(self, unit: Unit, pending: dict[str, dict[str, dict[str, str]]]) -> bool:
        """A hook of `unit` exited 0: its relation-set writes into the store (an empty value deletes); whether a
        databag changed (each change bumps the databag's version, which the resolver compares)."""
        changed = False
        with self._store() as doc:
            for rid, writes in pending.items():
                rel = doc["relations"].get(rid)
                if rel is None or unit.application not in rel["endpoints"]:
                    continue
                for owner, bag in ((unit.name, writes.get("unit") or {}), (unit.application, writes.get("app") or {})):
                    if not bag:
                        continue
                    before = rel["data"].get(owner, {})
                    after = hooktools.overlay(before, bag)
                    if after != before:
                        rel["data"][owner] = after
                        rel["versions"][owner] = int(rel["versions"].get(owner, 0)) + 1
                        changed = True
        return changed

    # --- the uniter's relation resolver ---------------------------------------------------------------------
    def _settle_locked(self, raise_failures: bool) -> list[RelationEvent]:
        ran: list[RelationEvent] = []
        for _ in range(MAX_ROUNDS):
            with self._store(write=False) as doc:
                pairs = [(int(rid), u) for rid, rel in sorted(doc["relations"].items(), key=lambda kv: int(kv[0]))
                         for u in self._sides(rel)]
            progressed = False
            for rid, unit_name in pairs:
                event = self._claim(rid, unit_name)
                if event is None:
                    continue
                progressed = True
                ran.append(event)
                self.log.append((event.unit, event.hook, event.remote_unit))
                try:
                    self._units[unit_name].run_relation_hook(event)
                except HookFailed as e:
                    if raise_failures:
                        raise
                    self.failures.append(e)
                    return ran
                finally:
                    self.finished(event)
            if not progressed:
                return ran
        raise RelationsUnsettled(f"relation hooks still changing data after {MAX_ROUNDS} passes "
                                 f"(last: {', '.join(f'{e.unit} {e.hook}' for e in ran[-4:])})")

    def _sides(self, rel: dict[str, Any]) -> list[str]:
        """The units that run this relation's hooks, provider side first (those this process knows)."""
        order = sorted(rel["endpoints"], key=lambda app: (rel["roles"][app] != "provider", app))
        return [u for app in order for u in rel["units"][app] if u in self._units]

    def _claim(self, rid: int, unit: str) -> RelationEvent | None:
        """The unit's next hook for relation `rid` (resolver.go `nextHookForRelation`), its state advanced as the
        uniter's is when the hook is prepared (relation-list inside -joined lists the joining unit, inside
        -departed no longer the departing one); the relation dropped once both sides ran relation-broken."""
        with self._store() as doc:
            rel = doc["relations"].get(str(rid))
            if rel is None:
                return None
            app = unit.split("/")[0]
            seen = rel["seen"][unit]
            other = hooktools.remote_app(rel, app)
            endpoint = rel["endpoints"][app]
            if seen["broken"]:
                return None

            def event(kind: str, remote_unit: str = "", departing: str = "") -> RelationEvent:
                return RelationEvent(rid, unit, kind, endpoint, other, remote_unit, departing)

            if not seen["created"]:
                if rel["dying"]:  # never created here: nothing to break (resolver: StateFound false)
                    seen["broken"] = True
                    self._drop_if_done(doc, rid)
                    return None
                seen["created"] = True
                return event("created")
            if seen["changed_pending"]:
                remote = str(seen["changed_pending"])
                seen["changed_pending"] = None
                seen["members"][remote] = rel["versions"].get(remote, 0)
                return event("changed", remote)
            in_scope = [] if rel["dying"] else sorted(rel["units"][other])
            for remote in sorted(seen["members"]):
                if remote not in in_scope:
                    del seen["members"][remote]
                    return event("departed", remote, remote)
            if rel["dying"]:
                seen["broken"] = True
                self._drop_if_done(doc, rid, keep_for=unit)
                return event("broken")
            version = int(rel["versions"].get(other, 0))
            if int(seen["apps"].get(other, 0)) != version:
                seen["apps"][other] = version
                return event("changed")
            for remote in in_scope:
                if remote not in seen["members"]:
                    seen["members"][remote] = rel["versions"].get(remote, 0)
                    seen["changed_pending"] = remote
                    return event("joined", remote)
            for remote in in_scope:
                version = int(rel["versions"].get(remote, 0))
                if int(seen["members"][remote]) != version:
                    seen["members"][remote] = version
                    return event("changed", remote)
            return None

    def _drop_if_done(self, doc: dict[str, Any], rid: int, keep_for: str | None = None) -> None:
        """A dying relation every side has broken goes, with its data; while the last side's relation-broken
        runs (`keep_for`) it stays, marked, so that hook still reads it."""
        rel = doc["relations"][str(rid)]
        sides = [u for units in rel["units"].values() for u in units]
        if not all(rel["seen"].get(u, {}).get("broken") for u in sides):
            return
        if keep_for is not None:
            rel["drop_after"] = keep_for
            return
        del doc["relations"][str(rid)]

    def finished(self, event: RelationEvent) -> None:
        """The unit ran `event` (whatever the outcome): a relation whose last relation-broken that was goes."""
        if event.kind != "broken":
            return
        with self._store() as doc:
            rel = doc["relations"].get(str(event.relation_id))
            if rel is not None and rel.get("drop_after") == event.unit:
                del doc["relations"][str(event.relation_id)]
