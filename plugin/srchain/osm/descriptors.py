"""Finding and loading descriptors: a package directory holds exactly one descriptor YAML at its top,
next to `charms/`, `cloud_init/` and friends. Directories without one are searched one level down, so
`vnfd/` or `packages/extracted/` work as arguments too."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from srchain.osm.findings import Finding

DESCRIPTOR_SUFFIXES = (".yaml", ".yml", ".json")
# Package sub-folders that never hold package roots.
_NOT_PACKAGES = {"charms", "cloud_init", "icons", "images", "Scripts", "helm-charts", "juju-bundles"}


@dataclass(frozen=True)
class Descriptor:
    file: Path
    root: Path  # the package directory: charms/ and cloud_init/ are resolved under it
    data: dict[str, Any]

    @property
    def kind(self) -> str:
        return "vnfd" if "vnfd" in self.data else "nsd"

    @property
    def body(self) -> dict[str, Any]:
        """The VNFD itself, or the (single) NSD inside `nsd.nsd[]`."""
        if self.kind == "vnfd":
            return self.data["vnfd"] or {}
        items = (self.data.get("nsd") or {}).get("nsd") or [{}]
        return items[0] or {}

    @property
    def ident(self) -> str:
        return str(self.body.get("id", "?"))


def read_yaml(path: Path) -> tuple[Any, Finding | None]:
    try:
        return yaml.safe_load(path.read_text()), None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        return None, Finding(str(path), "", "yaml", f"cannot read it as YAML: {e}")


def is_descriptor(data: Any) -> bool:
    return isinstance(data, dict) and bool({"vnfd", "nsd"} & set(data))


def top_level_yaml(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in DESCRIPTOR_SUFFIXES)


def collect(paths: list[Path]) -> tuple[list[Descriptor], list[Finding]]:
    """Every descriptor under `paths` (files or directories), with YAML errors as findings."""
    found: list[Descriptor] = []
    problems: list[Finding] = []
    for path in paths:
        if path.is_file():
            _load(path, path.parent, found, problems)
        elif path.is_dir():
            _collect_dir(path, found, problems, depth=0)
        else:
            problems.append(Finding(str(path), "", "input", "no such file or directory"))
    return found, problems


def _collect_dir(directory: Path, found: list[Descriptor], problems: list[Finding], depth: int) -> None:
    before = len(found)
    for f in top_level_yaml(directory):
        _load(f, directory, found, problems)
    if len(found) > before or depth >= 2:
        return
    for child in sorted(directory.iterdir()):
        if child.is_dir() and not child.name.startswith((".", "_")) and child.name not in _NOT_PACKAGES:
            _collect_dir(child, found, problems, depth + 1)


def _load(path: Path, root: Path, found: list[Descriptor], problems: list[Finding]) -> None:
    if path.suffix not in DESCRIPTOR_SUFFIXES:
        return
    data, problem = read_yaml(path)
    if problem:
        problems.append(problem)
    elif is_descriptor(data):
        found.append(Descriptor(path, root, data))
