"""Deployable charms: the unpacked charm directory `charmcraft pack` would produce, built without charmcraft.

OSM's LCM (`ns.py`, `NsLcm.instantiate_N2VC`) points N2VC at `<package>/charms/<juju.charm>` and N2VC
(`N2VCJujuConnector.install_configuration_sw` → `Libjuju.deploy_charm`) hands that path to libjuju's
`Model.deploy`, which reads `metadata.yaml` (`juju.utils.get_local_charm_metadata`), the base from
`manifest.yaml` (`get_local_charm_base`) and zips the directory (`CharmArchiveGenerator`) for the
controller; Juju then runs `dispatch`. So a package ships, per charm, the directory charmcraft's `charm`
plugin would pack (docs/osm.md, "What a package's charm holds"):

- `metadata.yaml`, `actions.yaml`, `config.yaml`: split out of the unified `charmcraft.yaml` as
  charmcraft does (metadata keys; `actions`; `config`, whose option types must be ones Juju 2.9 accepts);
  `manifest.yaml` with the `bases` Juju 2.9 and 3.x read (charm format 2; no `series` in metadata.yaml);
- `dispatch`: charmcraft's charm-plugin script (`PYTHONPATH=lib:venv exec ./src/charm.py`), after a check
  that the machine's Python is the base's (else the unit is Blocked saying which base it needs);
- `src/`, `lib/` (the vendored project packages), `venv/`: the pinned dependencies installed with
  `pip install --target` for the base's Python (wheels only), `requirements.txt` listing exactly them.

`hooks/` (symlinks to dispatch, for Juju < 2.8) is left out: OSM's package rules allow no links.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path
from typing import Any

import yaml

from srchain.osm.findings import OsmToolError

DISPATCH_EXEC = """JUJU_DISPATCH_PATH="${JUJU_DISPATCH_PATH:-$0}" PYTHONPATH=lib:venv \\
  exec ./src/charm.py
"""  # the last line of charmcraft's charm-plugin dispatch (const.DISPATCH_CONTENT), byte for byte
# Before it, a check of the machine's Python: OSM's N2VC creates proxy-charm machines with the series libjuju's
# create_machine defaults to (bionic, Python 3.6) unless told otherwise, and there the charm would die on an
# import or syntax error; instead the unit says why (docs/osm.md, "Supported OSM, Juju and Ubuntu").
DISPATCH_GUARD = """#!/bin/sh
# srchain: the charm's code and venv/ are built for {base} (Python {python}).
if ! python3 -c 'import sys; sys.exit(sys.version_info[:2] != ({major}, {minor}))' 2>/dev/null; then
  msg="this charm needs {base} (Python {python}); this machine has $(python3 -V 2>&1 | head -n 1)"
  juju-log -l ERROR "$msg" 2>/dev/null
  status-set blocked "$msg" 2>/dev/null
  exit 1
fi

"""
ENTRYPOINT = "src/charm.py"
# Keys of a unified charmcraft.yaml that go to metadata.yaml (charmcraft const.CHARM_METADATA_KEYS);
# `title` and `links` are renamed to their legacy metadata.yaml names on the way.
METADATA_KEYS = ("name", "summary", "description", "title", "assumes", "containers", "devices", "extra-bindings",
                 "links", "peers", "provides", "requires", "resources", "storage", "subordinate", "terms")
LINKS = {"documentation": "docs", "issues": "issues", "contact": "maintainers", "source": "source",
         "website": "website"}
# The Python of each base (the interpreter Juju's machine runs dispatch with) and its glibc (newest
# manylinux tag a wheel may carry to load there).
BASE_PYTHON = {"ubuntu@20.04": ("3.8", 31), "ubuntu@22.04": ("3.10", 35), "ubuntu@24.04": ("3.12", 39)}
# Where the project's lock (made for its own Python, 3.11) pins a release that does not install on a charm
# base's Python, the pin the charm's venv uses instead; every other pin is the lock's.
PYTHON_PINS = {"3.10": {"pycparser": "pycparser==3.11"}}  # pycparser 3.12 requires Python >= 3.11
# Option types a charm's config.yaml may use: the ones Juju 2.9 (OSM's VCA) accepts; `secret` is Juju 3.x only.
CONFIG_TYPES = ("string", "int", "float", "boolean")
ARCH_PLATFORM = {"amd64": "x86_64", "arm64": "aarch64"}
MANIFEST_HEAD = {"charmcraft-version": "srchain package build (charmcraft 3 layout)",
                 "charmcraft-started-at": "1970-01-01T00:00:00Z"}  # fixed: builds are reproducible


@dataclass(frozen=True)
class CharmTarget:
    """What the charm's venv is built for: the base's Python on its architecture."""

    base: str  # ubuntu@24.04
    arch: str  # amd64
    python: str  # "3.12"
    glibc_minor: int  # newest manylinux_2_<n> accepted

    @property
    def pip_flags(self) -> list[str]:
        cp = "cp" + self.python.replace(".", "")
        machine = ARCH_PLATFORM.get(self.arch, self.arch)
        # manylinux_2_17 (= manylinux2014) is the oldest tag current wheels carry; pip does not widen a
        # given --platform to older glibc tags itself, so every accepted one is listed.
        platforms = [f"manylinux_2_{n}_{machine}" for n in range(17, self.glibc_minor + 1)]
        return ["--only-binary", ":all:", "--python-version", self.python, "--implementation", "cp",
                "--abi", cp, *(a for p in [*platforms, f"manylinux2014_{machine}"] for a in ("--platform", p))]


def _base_and_arches(craft: dict[str, Any], where: str) -> tuple[str, list[str]]:
    if isinstance(craft.get("bases"), list):  # the older charmcraft.yaml: bases[].run-on[]
        run_on = [r for b in craft["bases"] for r in (b.get("run-on") or [b])]
        first = run_on[0]
        return f"{first['name']}@{first['channel']}", sorted({a for r in run_on for a in r.get("architectures") or
                                                             ["amd64"]})
    base = craft.get("base")
    if not isinstance(base, str) or "@" not in base:
        raise OsmToolError(f"{where}: charmcraft.yaml has no 'base: <os>@<version>' (nor 'bases')")
    platforms = craft.get("platforms") or {"amd64": None}
    arches: list[str] = []
    for name, spec in platforms.items():
        build_for = (spec or {}).get("build-for") if isinstance(spec, dict) else None
        arches += [str(b).rpartition(":")[2] for b in build_for] if build_for else [str(name)]
    return base, sorted(set(arches))


def charm_target(craft: dict[str, Any], where: str, python: str | None = None) -> CharmTarget:
    """The target of a charm's venv: its base's Python, or `python` (e.g. the interpreter a test runs)."""
    base, arches = _base_and_arches(craft, where)
    if base not in BASE_PYTHON:
        raise OsmToolError(f"{where}: base {base} is not one this build knows the Python of "
                           f"({', '.join(sorted(BASE_PYTHON))})")
    base_python, glibc = BASE_PYTHON[base]
    return CharmTarget(base, arches[0], python or base_python, glibc)


def meta_files(craft: dict[str, Any], where: str) -> dict[str, dict[str, Any]]:
    """metadata.yaml, actions.yaml, config.yaml and manifest.yaml from a unified charmcraft.yaml."""
    metadata = {k: craft[k] for k in METADATA_KEYS if k in craft and craft[k] is not None}
    if "title" in metadata:
        metadata["display-name"] = metadata.pop("title")
    for key, legacy in LINKS.items():
        value = (metadata.get("links") or {}).get(key)
        if value is not None:
            metadata[legacy] = value
    metadata.pop("links", None)
    if not metadata.get("name"):
        raise OsmToolError(f"{where}: charmcraft.yaml has no name")
    base, arches = _base_and_arches(craft, where)
    os_name, _, channel = base.partition("@")
    out = {"metadata.yaml": metadata,
           "manifest.yaml": {**MANIFEST_HEAD,
                             "bases": [{"name": os_name, "channel": channel, "architectures": arches}],
                             "analysis": {"attributes": [{"name": "language", "result": "python"},
                                                         {"name": "framework", "result": "operator"}]}}}
    if craft.get("actions"):
        out["actions.yaml"] = craft["actions"]
    if craft.get("config"):
        options = (craft["config"] or {}).get("options") or {}
        bad = [f"{name} ({(spec or {}).get('type')})" for name, spec in options.items()
               if (spec or {}).get("type") not in CONFIG_TYPES]
        if bad:
            raise OsmToolError(f"{where}: config option types Juju 2.9 (OSM's VCA) refuses: {', '.join(bad)}; use "
                               f"one of {', '.join(CONFIG_TYPES)} (a secret: a string holding its URI, docs/osm.md)")
        out["config.yaml"] = craft["config"]
    return out


def charm_lock(lock: str, python: str) -> str:
    """The project's lock with the pins of `PYTHON_PINS[python]` in place of its own."""
    pins = PYTHON_PINS.get(python, {})
    lines = []
    for line in lock.splitlines():
        name = _norm(line) if "==" in line and not line.startswith("#") else None
        swap = next((pin for dist, pin in pins.items() if name == _norm(dist)), None)
        lines.append(swap or line)
    return "\n".join(lines) + "\n"


def dispatch_script(target: CharmTarget) -> str:
    major, minor = target.python.split(".")
    return DISPATCH_GUARD.format(base=target.base, python=target.python, major=major, minor=minor) + DISPATCH_EXEC


def venv_cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "srchain" / "charm-venvs"


def _norm(pin: str) -> str:
    return pin.split("==")[0].strip().lower().replace("_", "-").replace(".", "-")


def _installed(venv: Path) -> list[str]:
    """`name==version` of every distribution pip put into `venv`, sorted."""
    pins = []
    for meta in sorted(venv.glob("*.dist-info/METADATA")):
        head = Parser().parsestr(meta.read_text(errors="replace"), headersonly=True)
        pins.append(f"{head['Name']}=={head['Version']}")
    return sorted(pins, key=str.lower)


def build_venv(requirements: list[str], lock: str, target: CharmTarget, cache: Path | None = None) -> Path:
    """`requirements` and their dependencies, every version the lock's (`PYTHON_PINS` for the target's Python
    where the lock's release does not install there), installed with `pip install --target`
    for `target` (wheels only; the configured package index). Cached by content: a second charm with the same
    set, or a second build, copies the cached tree."""
    lock = charm_lock(lock, target.python)
    requirements = charm_lock("\n".join(requirements), target.python).split()
    key = hashlib.sha256("\n".join([*sorted(requirements), lock, repr(target)]).encode()).hexdigest()[:24]
    root = cache or venv_cache_root()
    done = root / key
    if (done / ".complete").is_file():
        return done
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{key}-", dir=root) as tmp:
        req, constraints, venv = Path(tmp) / "requirements.txt", Path(tmp) / "lock.txt", Path(tmp) / "venv"
        req.write_text("\n".join(requirements) + "\n")
        constraints.write_text(lock)
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
               "--no-warn-script-location", "--target", str(venv), "-r", str(req), "-c", str(constraints),
               *target.pip_flags]
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
        if run.returncode != 0:
            errors = [ln for ln in run.stderr.splitlines() if ln.startswith("ERROR")] or run.stderr.splitlines()[-5:]
            raise OsmToolError(f"installing the charm's dependencies for Python {target.python} ({target.base}, "
                               f"{target.arch}) failed: {' | '.join(errors)}")
        locked = {_norm(ln): ln.strip() for ln in lock.splitlines() if "==" in ln and not ln.startswith("#")}
        installed = _installed(venv)
        unlocked = [p for p in installed if _norm(p) not in locked]
        if unlocked:
            raise OsmToolError(f"the charm's dependencies pulled in packages the project's lock does not pin: "
                               f"{', '.join(unlocked)}; add them to requirements.lock")
        pins = [locked[_norm(p)] for p in installed]  # the lock's spelling
        shutil.rmtree(venv / "bin", ignore_errors=True)  # charmcraft ships site-packages only
        (venv / ".complete").write_text("\n".join(pins) + "\n")
        try:
            os.replace(venv, done)
        except OSError:  # another build finished the same set first
            if not (done / ".complete").is_file():
                raise
    return done


def _link_tree(src: Path, dst: Path) -> None:
    def link(s: str, d: str) -> None:
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)

    shutil.copytree(src, dst, copy_function=link, ignore=shutil.ignore_patterns(".complete", "__pycache__"))


def make_deployable(charm_dir: Path, requirements: list[str], lock: str, python: str | None = None,
                    cache: Path | None = None, venv: bool = True) -> CharmTarget:
    """Turn a staged charm source (charmcraft.yaml, src/, lib/) into the directory charmcraft would pack.

    `venv=False` leaves venv/ out (requirements.txt then lists the charm's direct pins): every other file is
    the same. Such a charm does not deploy; it is for checks that do not need the dependencies (the tests)."""
    where = str(charm_dir.name)
    craft = yaml.safe_load((charm_dir / "charmcraft.yaml").read_text()) or {}
    entry = charm_dir / ENTRYPOINT
    if not entry.is_file() or not os.access(entry, os.X_OK) or not entry.read_bytes().startswith(b"#!"):
        raise OsmToolError(f"{where}: {ENTRYPOINT} must be an executable script with a '#!' line (dispatch execs it, "
                           "as charmcraft requires)")
    for name, content in meta_files(craft, where).items():
        (charm_dir / name).write_text(yaml.safe_dump(content, sort_keys=False, default_flow_style=False))
    target = charm_target(craft, where, python)
    dispatch = charm_dir / "dispatch"
    dispatch.write_text(dispatch_script(target))
    dispatch.chmod(0o755)
    shutil.rmtree(charm_dir / "venv", ignore_errors=True)
    if not venv:
        pins = charm_lock("\n".join(requirements), target.python).split()
        (charm_dir / "requirements.txt").write_text("\n".join(pins) + "\n")
        return target
    built = build_venv(requirements, lock, target, cache)
    _link_tree(built, charm_dir / "venv")
    (charm_dir / "requirements.txt").write_text((built / ".complete").read_text())
    return target
