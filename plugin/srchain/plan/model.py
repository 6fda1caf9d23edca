"""Plan data: table entries per target, the allocated SIDs, the label stacks, and the diff."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from srchain.plan.tables import FLIP_ROLES

PLAN_FORMAT = "srchain.plan/v1"
TargetKind = Literal["switch", "proxy"]
Phase = Literal["install", "flip", "cleanup"]


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Entry:
    """One table entry on one target. Identity: (target, table, key); content: (action, params)."""

    target_kind: TargetKind
    target: str
    table: str
    key: dict[str, Any]
    action: str
    params: dict[str, Any]
    role: str
    version: int | None = None  # chain version that introduced it; None for infrastructure entries

    @property
    def identity(self) -> tuple[str, str, str, str]:
        return (self.target_kind, self.target, self.table, canonical(self.key))

    @property
    def content(self) -> str:
        return canonical([self.action, self.params])

    @property
    def flips(self) -> bool:
        return self.role in FLIP_ROLES

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "key": self.key,
            "action": self.action,
            "params": self.params,
            "role": self.role,
            "version": self.version,
        }

    @classmethod
    def from_json(cls, kind: TargetKind, target: str, d: dict[str, Any]) -> Entry:
        return cls(
            kind,
            target,
            d["table"],
            d["key"],
            d["action"],
            d.get("params", {}),
            d.get("role", "unknown"),
            d.get("version"),
        )


@dataclass(frozen=True)
class SidInfo:
    segment: str
    instance: str
    sid: int
    target_kind: TargetKind
    target: str
    behaviour: str  # "p4:<module>" or "proxy:static|dynamic"
    since: int


@dataclass(frozen=True)
class Stack:
    path: str  # "data" or "reports:<emitter segment>"
    buckets: list[int]  # load-balancing buckets that carry this stack
    labels: list[int]  # top first


@dataclass(frozen=True)
class DiffOp:
    op: Literal["add", "modify", "delete"]
    phase: Phase
    entry: Entry
    previous: Entry | None = None  # for modify

    def to_json(self) -> dict[str, Any]:
        d = {
            "op": self.op,
            "phase": self.phase,
            "target": {"kind": self.entry.target_kind, "name": self.entry.target},
            **self.entry.to_json(),
        }
        if self.previous is not None:
            d["previous"] = {
                "action": self.previous.action,
                "params": self.previous.params,
                "version": self.previous.version,
            }
        return d


@dataclass
class Plan:
    chain: str
    version: int
    spec_digest: str
    lb_buckets: int
    sids: list[SidInfo]
    stacks: list[Stack]
    entries: list[Entry]
    diff: list[DiffOp] | None = field(default=None)

    def targets(self) -> list[tuple[TargetKind, str]]:
        return sorted({(e.target_kind, e.target) for e in self.entries})

    def entries_of(self, kind: TargetKind, name: str) -> list[Entry]:
        return [e for e in self.entries if e.target_kind == kind and e.target == name]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": PLAN_FORMAT,
            "chain": self.chain,
            "version": self.version,
            "spec_digest": self.spec_digest,
            "lb_buckets": self.lb_buckets,
            "sids": [asdict(s) for s in self.sids],
            "stacks": [asdict(s) for s in self.stacks],
            "targets": [
                {"kind": k, "name": n, "entries": [e.to_json() for e in self.entries_of(k, n)]}
                for k, n in self.targets()
            ],
        }
        if self.diff is not None:
            out["diff"] = [op.to_json() for op in self.diff]
        return out


def entries_from_state(state: dict[str, Any]) -> list[Entry]:
    """Installed entries, as data: a state document or a previous plan (both carry `targets`)."""
    targets = state.get("targets")
    if not isinstance(targets, list):
        raise ValueError("state has no 'targets' list")
    out = []
    for i, t in enumerate(targets):
        if not isinstance(t, dict):
            raise ValueError(f"targets[{i}]: not a mapping")
        kind, name = t.get("kind"), t.get("name")
        if kind not in ("switch", "proxy"):
            raise ValueError(f"targets[{i}].kind: '{kind}' is not switch or proxy")
        if not isinstance(name, str) or not name:
            raise ValueError(f"targets[{i}].name: missing")
        for j, e in enumerate(t.get("entries", [])):
            try:
                out.append(Entry.from_json(kind, name, e))
            except KeyError as exc:
                raise ValueError(f"targets[{i}].entries[{j}]: missing field {exc}") from None
            except TypeError:
                raise ValueError(f"targets[{i}].entries[{j}]: not an entry mapping") from None
    return out
