"""Shared helpers for the chain-model tests."""

from __future__ import annotations

from pathlib import Path

from srchain.model import load_chain
from srchain.plan import Plan, build_plan, diff
from srchain.plan.model import Entry
from srchain.sidstore import SidStore

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
INVENTORY = EXAMPLES / "inventory.yaml"
REFERENCE = EXAMPLES / "cloud-gaming.yaml"


def plan_file(spec: Path, state_dir: Path, inventory: Path = INVENTORY) -> Plan:
    with SidStore(state_dir) as store:
        return build_plan(load_chain(spec, inventory), store)


def write_variant(tmp: Path, name: str, edit: dict[str, str], base: Path = REFERENCE) -> Path:
    """A copy of the reference spec with text replacements (keeps comments and layout readable)."""
    text = base.read_text()
    for old, new in edit.items():
        assert old in text, f"variant {name}: '{old}' not in {base.name}"
        text = text.replace(old, new)
    path = tmp / f"{name}.yaml"
    path.write_text(text)
    return path


def sid_of(plan: Plan, segment: str, instance: str | None = None) -> int:
    return next(s.sid for s in plan.sids if s.segment == segment and s.instance == (instance or segment))


def ops(plan: Plan, installed: list[Entry]) -> list[tuple[str, str, str, str]]:
    """(phase, op, target, table) of the diff, in order."""
    return [(o.phase, o.op, o.entry.target, o.entry.table) for o in diff(plan.entries, installed)]
