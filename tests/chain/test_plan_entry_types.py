"""Typed plan entries: key values are numbers, addresses, {value, mask} or {value, prefix_len}; entries read
back from a plan's or a state's JSON are checked against that format, and round-trip unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from srchain.plan.model import Entry, entries_from_state, key_value

GOLDEN = Path(__file__).parent / "golden" / "cloud-gaming.plan.json"


def test_every_golden_entry_reads_back_and_writes_the_same_json() -> None:
    doc = json.loads(GOLDEN.read_text())
    entries = entries_from_state(doc)
    assert len(entries) == sum(len(t["entries"]) for t in doc["targets"])
    written = {(t["kind"], t["name"]): t["entries"] for t in doc["targets"]}
    for e in entries:
        assert e.to_json() in written[(e.target_kind, e.target)]
    kinds = {type(v).__name__ if not isinstance(v, dict) else "+".join(sorted(v))
             for e in entries for v in e.key.values()}
    assert kinds == {"int", "str", "mask+value", "prefix_len+value"}


def test_typed_accessors_of_key_fields() -> None:
    doc = json.loads(GOLDEN.read_text())
    entries = entries_from_state(doc)
    proxy_sid = next(e for e in entries if e.table == "sid")
    attachment = next(e for e in entries if e.table == "attachment")
    assert proxy_sid.key_int("sid") == proxy_sid.key["sid"] and attachment.key_str("vnf") == attachment.key["vnf"]
    with pytest.raises(ValueError, match=r"^attachment: key field vnf is 'aggregator', not a number$"):
        attachment.key_int("vnf")
    route = next(e for e in entries if e.role == "route")
    with pytest.raises(ValueError, match=r"not text$"):
        route.key_str("dst_addr")


@pytest.mark.parametrize("value", [7, "10.0.0.1", {"value": 1, "mask": 255}, {"value": "10.0.0.0", "prefix_len": 8}])
def test_key_values_of_the_plan_format_are_taken(value: object) -> None:
    assert key_value("f", value) == value


@pytest.mark.parametrize("value", [True, 1.5, None, [1, 2], {"value": 1}, {"value": 1, "mask": 1, "prefix_len": 8},
                                   {"value": 1, "prefix_len": "8"}, {"value": [1], "mask": 1}])
def test_other_key_values_are_refused_naming_the_field(value: object) -> None:
    with pytest.raises(ValueError, match=r"^key field f: .* is not a number, an address, \{value, mask\} or "
                                         r"\{value, prefix_len\}$"):
        key_value("f", value)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda e: e["key"].update(sid={"value": 1}), r"^targets\[0\].entries\[4\]: key field sid: "),
    (lambda e: e.update(key=[1]), r"^targets\[0\].entries\[4\]: not an entry mapping$"),
    (lambda e: e.update(version="1"), r"^targets\[0\].entries\[4\]: not an entry mapping$"),
    (lambda e: e.pop("action"), r"^targets\[0\].entries\[4\]: missing field 'action'$"),
])
def test_a_malformed_current_state_is_refused_naming_the_entry(edit, message: str) -> None:
    bad = json.loads(GOLDEN.read_text())
    entry = bad["targets"][0]["entries"][4]
    assert entry["key"] == {"sid": 16001}, "the edited entry is a proxy SID"
    edit(entry)
    with pytest.raises(ValueError, match=message):
        entries_from_state(bad)


def test_entry_json_round_trip_keeps_the_mapping_it_was_given() -> None:
    key = {"dst_addr": {"value": "10.0.1.10", "prefix_len": 32}}
    e = Entry.from_json("switch", "s1", {"table": "t", "key": key, "action": "a", "params": {"port": 1}})
    assert e.to_json() == {"table": "t", "key": key, "action": "a", "params": {"port": 1}, "role": "unknown",
                           "version": None}
