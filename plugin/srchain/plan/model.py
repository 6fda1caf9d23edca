"""Plan data: table entries per target, the allocated SIDs, the label stacks, and the diff."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Literal, TypeAlias, TypedDict, cast, final

from srchain.plan.tables import FLIP_ROLES

PLAN_FORMAT = "srchain.plan/v1"
TargetKind = Literal["switch", "proxy", "node"]  # node: a Linux SRv6 head end or tail
TARGET_KINDS: tuple[TargetKind, ...] = ("switch", "proxy", "node")
Phase = Literal["install", "flip", "cleanup"]

# A JSON value, as the plan's params carry them (a static proxy SID's `restore` is a list of label stacks).
# Read-only containers, so a list[list[int]] is one.
JsonValue: TypeAlias = "bool | int | float | str | Sequence[JsonValue] | Mapping[str, JsonValue] | None"
Scalar: TypeAlias = int | str  # a number, or an IPv4 / MAC address as text


@final
class Ternary(TypedDict):
    """A ternary key field: `{"value": ..., "mask": ...}` in the plan's JSON."""

    value: Scalar
    mask: Scalar


@final
class Lpm(TypedDict):
    """A longest-prefix key field: `{"value": ..., "prefix_len": ...}` in the plan's JSON."""

    value: Scalar
    prefix_len: int


KeyValue: TypeAlias = Scalar | Ternary | Lpm
Key: TypeAlias = dict[str, KeyValue]
Params: TypeAlias = dict[str, JsonValue]


def canonical(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def _scalar(value: object) -> bool:
    return isinstance(value, int | str) and not isinstance(value, bool)


def key_value(name: str, value: object) -> KeyValue:
    """A key field's value read from JSON, checked against the plan format (ValueError naming the field)."""
    if _scalar(value):
        return cast(Scalar, value)
    if isinstance(value, dict) and _scalar(value.get("value")):
        if set(value) == {"value", "mask"} and _scalar(value["mask"]):
            return cast(Ternary, value)
        if set(value) == {"value", "prefix_len"} and type(value["prefix_len"]) is int:
            return cast(Lpm, value)
    raise ValueError(f"key field {name}: {value!r} is not a number, an address, {{value, mask}} or "
                     "{value, prefix_len}")


@dataclass(frozen=True)
class Entry:
    """One table entry on one target. Identity: (target, table, key); content: (action, params)."""

    target_kind: TargetKind
    target: str
    table: str
    key: Key
    action: str
    params: Params
    role: str
    version: int | None = None  # chain version that introduced it; None for infrastructure entries

    @cached_property  # planning 1,000 chains asked for it ~190,000 times (a JSON dump each); keys are not mutated
    def identity(self) -> tuple[str, str, str, str]:
        return (self.target_kind, self.target, self.table, canonical(self.key))

    @property
    def content(self) -> str:
        return canonical([self.action, self.params])

    @property
    def flips(self) -> bool:
        return self.role in FLIP_ROLES

    def key_int(self, name: str) -> int:
        """An exact key field that is a number (a SID, a label)."""
        value = self.key[name]
        if not isinstance(value, int):
            raise ValueError(f"{self.table}: key field {name} is {value!r}, not a number")
        return value

    def key_str(self, name: str) -> str:
        """An exact key field that is text (a VNF instance name)."""
        value = self.key[name]
        if not isinstance(value, str):
            raise ValueError(f"{self.table}: key field {name} is {value!r}, not text")
        return value

    def to_json(self) -> dict[str, object]:
        return {
            "table": self.table,
            "key": self.key,
            "action": self.action,
            "params": self.params,
            "role": self.role,
            "version": self.version,
        }

    @classmethod
    def from_json(cls, kind: TargetKind, target: str, d: Mapping[str, object]) -> Entry:
        """An entry of a plan's or a state's JSON: KeyError for a missing field, TypeError for a value of
        the wrong kind, ValueError for a key field outside the plan format."""
        table, key, action, params = d["table"], d["key"], d["action"], d.get("params", {})
        role, version = d.get("role", "unknown"), d.get("version")
        if not (isinstance(table, str) and isinstance(action, str) and isinstance(role, str)):
            raise TypeError("table, action and role are text")
        if not (isinstance(key, dict) and isinstance(params, dict)) or not (version is None or type(version) is int):
            raise TypeError("key and params are mappings, version a number or null")
        return cls(kind, target, table, {k: key_value(k, v) for k, v in key.items()}, action, params, role, version)


@dataclass(frozen=True)
class SidInfo:
    segment: str
    instance: str
    sid: int | str  # a label; srv6: an IPv6 address
    target_kind: TargetKind
    target: str
    behaviour: str  # "p4:<module>", "proxy:static|dynamic"; srv6: "proxy:end.as|end.ad|end.am", "node:end.dx4|dt6"
    since: int


@dataclass(frozen=True)
class Stack:
    path: str  # "data" or "reports:<emitter segment>"
    buckets: list[int]  # load-balancing buckets that carry this stack
    labels: list[int] | list[str]  # top first; srv6: the segment list, addresses in travel order


@dataclass(frozen=True)
class DiffOp:
    op: Literal["add", "modify", "delete"]
    phase: Phase
    entry: Entry
    previous: Entry | None = None  # for modify

    def to_json(self) -> dict[str, object]:
        d: dict[str, object] = {
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
    # multi-site inventories only (docs/plan-format.md#multi-site-plans): placement and WAN crossings
    sites: Mapping[str, object] | None = field(default=None)

    def targets(self) -> list[tuple[TargetKind, str]]:
        return sorted({(e.target_kind, e.target) for e in self.entries})

    def entries_of(self, kind: TargetKind, name: str) -> list[Entry]:
        return [e for e in self.entries if e.target_kind == kind and e.target == name]

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "format": PLAN_FORMAT,
            "chain": self.chain,
            "version": self.version,
            "spec_digest": self.spec_digest,
            "lb_buckets": self.lb_buckets,
            "sids": [asdict(s) for s in self.sids],
            "stacks": [asdict(s) for s in self.stacks],
            **({"sites": self.sites} if self.sites is not None else {}),
            "targets": [
                {"kind": k, "name": n, "entries": [e.to_json() for e in self.entries_of(k, n)]}
                for k, n in self.targets()
            ],
        }
        if self.diff is not None:
            out["diff"] = [op.to_json() for op in self.diff]
        return out


def entries_from_state(state: Mapping[str, object]) -> list[Entry]:
    """Installed entries, as data: a state document or a previous plan (both carry `targets`)."""
    targets = state.get("targets")
    if not isinstance(targets, list):
        raise ValueError("state has no 'targets' list")
    out = []
    for i, t in enumerate(targets):
        if not isinstance(t, dict):
            raise ValueError(f"targets[{i}]: not a mapping")
        kind, name = t.get("kind"), t.get("name")
        if kind not in TARGET_KINDS:
            raise ValueError(f"targets[{i}].kind: '{kind}' is not switch, proxy or node")
        if not isinstance(name, str) or not name:
            raise ValueError(f"targets[{i}].name: missing")
        for j, e in enumerate(t.get("entries", [])):
            try:
                out.append(Entry.from_json(kind, name, e))
            except KeyError as exc:
                raise ValueError(f"targets[{i}].entries[{j}]: missing field {exc}") from None
            except TypeError:
                raise ValueError(f"targets[{i}].entries[{j}]: not an entry mapping") from None
            except ValueError as exc:
                raise ValueError(f"targets[{i}].entries[{j}]: {exc}") from None
    return out
