"""What a charm declares: its actions (with parameters) and its config options.

OSM runs a descriptor's primitives as Juju actions of the execution environment's charm, and the
special `config` initial primitive as charm config; both must exist in the charm. A charm is either an
unpacked directory (charmcraft.yaml or metadata.yaml, optional actions.yaml / config.yaml, src/charm.py)
or a packed `<name>.charm` zip with the same files inside.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from srchain.errors import SrchainError


@dataclass(frozen=True)
class ActionParam:
    name: str
    type: str | None  # Juju/JSON-schema type: string, integer, number, boolean, ...


@dataclass(frozen=True)
class Action:
    name: str
    params: dict[str, ActionParam] = field(default_factory=dict)
    required: frozenset[str] = frozenset()


@dataclass(frozen=True)
class CharmMeta:
    name: str
    location: Path
    actions: dict[str, Action]
    config_options: dict[str, str | None]  # option -> type


class CharmProblem(SrchainError):
    """The charm exists but is unusable (no metadata, no code, unreadable YAML)."""


def find_charm(name: str, roots: list[Path]) -> Path | None:
    """The first `<root>/<name>/` directory or `<root>/<name>.charm` file."""
    for root in roots:
        if (root / name).is_dir():
            return root / name
        if (root / f"{name}.charm").is_file():
            return root / f"{name}.charm"
    return None


def _read_files(location: Path) -> dict[str, str]:
    wanted = ("charmcraft.yaml", "metadata.yaml", "actions.yaml", "config.yaml", "src/charm.py")
    if location.is_dir():
        return {w: (location / w).read_text() for w in wanted if (location / w).is_file()}
    try:
        with zipfile.ZipFile(location) as z:
            names = set(z.namelist())
            return {w: z.read(w).decode() for w in wanted if w in names}
    except zipfile.BadZipFile as e:
        raise CharmProblem(f"{location} is not a packed charm (zip): {e}") from e


def _yaml(files: dict[str, str], name: str, location: Path) -> dict[str, Any]:
    if name not in files:
        return {}
    try:
        data = yaml.safe_load(files[name]) or {}
    except yaml.YAMLError as e:
        raise CharmProblem(f"{location}/{name} is not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise CharmProblem(f"{location}/{name} must be a mapping")
    return data


def load_charm(location: Path) -> CharmMeta:
    files = _read_files(location)
    if "charmcraft.yaml" not in files and "metadata.yaml" not in files:
        raise CharmProblem(f"{location} has neither charmcraft.yaml nor metadata.yaml")
    if location.is_dir() and "src/charm.py" not in files:
        raise CharmProblem(f"{location} has no src/charm.py")
    craft = _yaml(files, "charmcraft.yaml", location)
    meta = _yaml(files, "metadata.yaml", location)
    # charmcraft.yaml may carry actions/config itself; separate files win when both exist.
    actions_doc = _yaml(files, "actions.yaml", location) or craft.get("actions") or {}
    config_doc = _yaml(files, "config.yaml", location) or craft.get("config") or {}
    name = str(craft.get("name") or meta.get("name") or location.stem)
    actions: dict[str, Action] = {}
    for action_name, spec in actions_doc.items():
        spec = spec or {}
        params = {
            p: ActionParam(p, (ps or {}).get("type")) for p, ps in (spec.get("params") or {}).items()
        }
        actions[str(action_name)] = Action(str(action_name), params, frozenset(spec.get("required") or []))
    options = {str(k): (v or {}).get("type") for k, v in (config_doc.get("options") or {}).items()}
    return CharmMeta(name=name, location=location, actions=actions, config_options=options)
