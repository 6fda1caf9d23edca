"""The BF Runtime schema a switch serves (bf-rt.json), as typed objects: tables with their key fields,
actions and data fields, and learn filters. Lookups take a full name or any unique dotted suffix
(`forward`, `SwitchIngress.forward`) and raise `SchemaError` naming what is missing and where.

Only what the client needs is parsed; anything else in bf-rt.json is ignored.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar, cast

from srchain.bfrt.errors import BfrtError

_FIXED_BITS = {"uint64": 64, "uint32": 32, "int32": 32, "uint16": 16, "uint8": 8, "bool": 1, "string": 0}
_DEFAULT_BITS = 32  # a fixed type this client does not know: encoded as 4 bytes


class SchemaError(BfrtError):
    """A name the schema does not hold (NOT_FOUND; INVALID_ARGUMENT for an entry's field), or a bf-rt.json
    this client cannot read (INVALID_ARGUMENT)."""

    def __init__(self, message: str, code: str = "NOT_FOUND") -> None:
        super().__init__(message, code)


@dataclass(frozen=True)
class FieldType:
    """A field's bf-rt.json `type`: `bytes` (with a bit width), a fixed-width int, `bool` or `string`."""

    name: str
    width: int  # bits (0 for string)

    @property
    def byte_width(self) -> int:
        return (self.width + 7) // 8


@dataclass(frozen=True)
class KeyField:
    name: str
    id: int
    match_type: str  # Exact, Ternary, LPM, Range
    type: FieldType

    @property
    def width(self) -> int:
        return self.type.width


@dataclass(frozen=True)
class DataField:
    """An action parameter, a table's own data field (counter, register cell) or a learn-filter field."""

    name: str
    id: int
    type: FieldType
    repeated: bool = False


class _HasName(Protocol):
    @property
    def name(self) -> str: ...


Named = TypeVar("Named", bound=_HasName)


def _by_name(items: Iterable[Named]) -> dict[str, Named]:
    return {item.name: item for item in items}


def resolve(name: str, items: Mapping[str, Named], what: str) -> Named:
    """The item called `name`, or the only one whose name ends with `.name`."""
    if name in items:
        return items[name]
    hits = [n for n in items if n.endswith("." + name)]
    if not hits:
        raise SchemaError(f"no name {name!r} among the {what}")
    if len(hits) > 1:
        raise SchemaError(f"ambiguous name {name!r} among the {what}: {', '.join(sorted(hits))}")
    return items[hits[0]]


@dataclass(frozen=True)
class ActionInfo:
    name: str
    id: int
    params: tuple[DataField, ...]

    def param(self, name: str) -> DataField:
        for p in self.params:
            if p.name == name:
                return p
        raise SchemaError(f"action {self.name} has no parameter {name}", "INVALID_ARGUMENT")


@dataclass(frozen=True)
class TableInfo:
    name: str
    id: int
    table_type: str  # MatchAction_Direct, Register, Counter, ...
    keys: tuple[KeyField, ...]
    actions: tuple[ActionInfo, ...]
    data: tuple[DataField, ...]  # the table's own (singleton) data fields: counters, register cells, $mirror.cfg

    def key_field(self, name: str) -> KeyField:
        for k in self.keys:
            if k.name == name:
                return k
        raise SchemaError(f"table {self.name} has no key field {name}", "INVALID_ARGUMENT")

    def key_field_by_id(self, field_id: int) -> KeyField:
        for k in self.keys:
            if k.id == field_id:
                return k
        raise SchemaError(f"table {self.name} has no key field with id {field_id}")

    def action(self, name: str) -> ActionInfo:
        return resolve(name, _by_name(self.actions), f"actions of table {self.name}")

    def action_by_id(self, action_id: int) -> ActionInfo | None:
        return next((a for a in self.actions if a.id == action_id), None)

    def data_field(self, name: str) -> DataField:
        for d in self.data:
            if d.name == name:
                return d
        raise SchemaError(f"table {self.name} has no data field {name}", "INVALID_ARGUMENT")

    @property
    def is_match_action(self) -> bool:
        return self.table_type.startswith("MatchAction")


@dataclass(frozen=True)
class LearnFilter:
    name: str
    id: int
    fields: tuple[DataField, ...]


@dataclass(frozen=True)
class Schema:
    """Every table and learn filter of the programs a switch serves (and its non-P4 tables), by full name."""

    tables: Mapping[str, TableInfo]
    learn_filters: Mapping[str, LearnFilter]

    def table(self, name: str) -> TableInfo:
        return resolve(name, self.tables, "tables")

    def table_by_id(self, table_id: int) -> TableInfo:
        for t in self.tables.values():
            if t.id == table_id:
                return t
        raise SchemaError(f"no table with id {table_id}")

    def learn_filter_by_id(self, filter_id: int) -> LearnFilter:
        for lf in self.learn_filters.values():
            if lf.id == filter_id:
                return lf
        raise SchemaError(f"no learn filter with id {filter_id}")

    @classmethod
    def parse(cls, documents: Iterable[bytes | str]) -> Schema:
        """The schema of several bf-rt.json documents (one per program, plus the non-P4 one)."""
        tables: list[TableInfo] = []
        learn: list[LearnFilter] = []
        for text in documents:
            doc = _mapping(json.loads(text), "bf-rt.json")
            tables += [_table(_mapping(t, "bf-rt.json table")) for t in _list(doc, "tables")]
            learn += [_learn_filter(_mapping(lf, "bf-rt.json learn filter")) for lf in _list(doc, "learn_filters")]
        return cls(_by_name(tables), _by_name(learn))


# ------------------------------------------------------------ bf-rt.json → objects
JsonObject = Mapping[str, object]


def _mapping(value: object, where: str) -> JsonObject:
    if not isinstance(value, dict):
        raise SchemaError(f"{where}: expected an object, got {type(value).__name__}", "INVALID_ARGUMENT")
    return cast(JsonObject, value)


def _where(doc: JsonObject) -> str:
    name = doc.get("name")
    return f"bf-rt.json {name}" if isinstance(name, str) else "bf-rt.json"


def _list(doc: JsonObject, key: str) -> list[object]:
    value = doc.get(key, [])
    if not isinstance(value, list):
        raise SchemaError(f"{_where(doc)}: '{key}' is not a list", "INVALID_ARGUMENT")
    return value


def _str(doc: JsonObject, key: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str):
        raise SchemaError(f"{_where(doc)}: '{key}' missing or not a string", "INVALID_ARGUMENT")
    return value


def _int(doc: JsonObject, key: str) -> int:
    value = doc.get(key)
    if not isinstance(value, int):
        raise SchemaError(f"{_where(doc)}: '{key}' missing or not an integer", "INVALID_ARGUMENT")
    return value


def _field_type(doc: JsonObject) -> FieldType:
    where = f"{_where(doc)}: type"
    t = _mapping(doc.get("type"), where)
    name = t.get("type")
    if not isinstance(name, str):
        raise SchemaError(f"{where}: no type name", "INVALID_ARGUMENT")
    if name == "bytes":
        width = t.get("width")
        if not isinstance(width, int):
            raise SchemaError(f"{where}: bytes without a width", "INVALID_ARGUMENT")
        return FieldType(name, width)
    return FieldType(name, _FIXED_BITS.get(name, _DEFAULT_BITS))


def _data_field(doc: JsonObject) -> DataField:
    return DataField(_str(doc, "name"), _int(doc, "id"), _field_type(doc), bool(doc.get("repeated", False)))


def _unwrap(field: JsonObject, action: JsonObject) -> JsonObject:
    """An action parameter as bf-p4c writes it, or wrapped in a `singleton` as the SDE's fixed tables write
    theirs (bf_rt_mirror_tf1.json's $coalescing)."""
    inner = field.get("singleton")
    return _mapping(inner, f"action {action.get('name')}: parameter") if inner is not None else field


def _table(doc: JsonObject) -> TableInfo:
    name = _str(doc, "name")
    keys = []
    for k in _list(doc, "key"):
        k = _mapping(k, f"table {name}: key field")
        keys.append(KeyField(_str(k, "name"), _int(k, "id"), _str(k, "match_type"), _field_type(k)))
    actions = []
    for a in _list(doc, "action_specs"):
        a = _mapping(a, f"table {name}: action")
        params = tuple(_data_field(_unwrap(_mapping(d, f"action {a.get('name')}: parameter"), a))
                       for d in _list(a, "data"))
        actions.append(ActionInfo(_str(a, "name"), _int(a, "id"), params))
    data = []
    for d in _list(doc, "data"):
        entry = _mapping(d, f"table {name}: data field")
        singleton = entry.get("singleton")
        # containers (SDE-only fixed tables; a singleton holding a `container` list, as a dynamic hashing
        # `<hash>.configure` field) are not used by this client
        if singleton is not None and "container" not in _mapping(singleton, f"table {name}: data field"):
            data.append(_data_field(_mapping(singleton, f"table {name}: data field")))
        # a oneof: e.g. $ACTION_MEMBER_ID | $SELECTOR_GROUP_ID of a selector table's entries
        for choice in _list(entry, "oneof") if "oneof" in entry else ():
            data.append(_data_field(_mapping(choice, f"table {name}: data field")))
    table_type = doc.get("table_type", "")
    return TableInfo(name, _int(doc, "id"), table_type if isinstance(table_type, str) else "", tuple(keys),
                     tuple(actions), tuple(data))


def _learn_filter(doc: JsonObject) -> LearnFilter:
    fields = tuple(_data_field(_mapping(f, f"learn filter {doc.get('name')}: field")) for f in _list(doc, "fields"))
    return LearnFilter(_str(doc, "name"), _int(doc, "id"), fields)
