"""The charms inside the built packages are deployable as OSM deploys them (docs/osm.md, "What a package's
charm holds"): LCM points N2VC at `<package>/charms/<charm>`, N2VC passes that directory to libjuju's
`Model.deploy`, Juju runs its `dispatch`.

(a) python-libjuju (PyPI `juju`) reads each directory with the functions `Model.deploy` uses for a local
charm: `utils.get_local_charm_metadata`, `utils.get_local_charm_base`, `CharmArchiveGenerator` (the zip it
uploads). (b) Each charm's `dispatch` runs as Juju runs it for the install hook: `JUJU_*` environment, the
charm directory as working directory, hook tools on PATH (tiny stubs backed by a JSON file, recording every
call), an interpreter of the charm base's Python that has none of the charm's dependencies, so `ops`,
pydantic, srchain... come from the charm's `venv/` and `lib/` only; the charm's `ops` framework reaches
its install handler (a `status-set`)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import ops
import pytest
import yaml
from juju import utils as juju_utils
from juju.client import client as juju_client
from juju.model import CharmArchiveGenerator

from srchain.osm.charmmeta import load_charm

CHARMS = ("srchain-aggregator", "srchain-classifier", "srchain-controller", "srchain-formatter",
          "srchain-mitigation", "srchain-p4-switch", "srchain-sr-proxy")
# What the install handler of each charm reports with nothing configured (no VM, switch or inventory).
INSTALL_STATUS = {
    "srchain-aggregator": "blocked", "srchain-classifier": "blocked", "srchain-controller": "blocked",
    "srchain-formatter": "blocked", "srchain-mitigation": "blocked", "srchain-p4-switch": "blocked",
    "srchain-sr-proxy": "blocked",
}


@pytest.fixture(scope="module")
def charm_dirs(built_packages: list[Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """charm name -> its directory, as the NBI stores the package (extracted, modes kept)."""
    root = tmp_path_factory.mktemp("extracted")
    out: dict[str, Path] = {}
    for tar_path in built_packages:
        with tarfile.open(tar_path, "r:gz") as tar:
            tar.extractall(root, filter="data")
        top = root / tar_path.name.removesuffix(".tar.gz")
        out.update({d.name: d for d in sorted((top / "charms").iterdir()) if d.is_dir()})
    return out


def test_every_charm_ships_the_files_charmcraft_packs(charm_dirs: dict[str, Path]) -> None:
    assert sorted(charm_dirs) == list(CHARMS)
    for name, d in charm_dirs.items():
        for f in ("metadata.yaml", "actions.yaml", "config.yaml", "manifest.yaml", "dispatch", "src/charm.py"):
            assert (d / f).is_file(), f"{name}: {f} missing"
        for f in ("dispatch", "src/charm.py"):
            assert os.stat(d / f).st_mode & stat.S_IXUSR, f"{name}: {f} is not executable"
        assert (d / "dispatch").read_text() == (
            '#!/bin/sh\n\nJUJU_DISPATCH_PATH="${JUJU_DISPATCH_PATH:-$0}" PYTHONPATH=lib:venv \\\n'
            "  exec ./src/charm.py\n")
        assert (d / "venv/ops/__init__.py").is_file() and (d / "venv/pydantic/__init__.py").is_file()
        assert (d / "lib/srchain/__init__.py").is_file()
        craft = yaml.safe_load((d / "charmcraft.yaml").read_text())
        assert yaml.safe_load((d / "actions.yaml").read_text()) == craft["actions"]
        assert yaml.safe_load((d / "config.yaml").read_text()) == craft["config"]
        meta = yaml.safe_load((d / "metadata.yaml").read_text())
        assert meta == {k: craft[k] for k in ("name", "summary", "description")}
        # every pin is the project's locked version, and the venv holds exactly them
        pins = (d / "requirements.txt").read_text().split()
        lock = set((Path.cwd() / "requirements.lock").read_text().split())
        assert set(pins) <= lock, set(pins) - lock
        dists = {p.name.split("-")[0].lower().replace("_", "-") for p in (d / "venv").glob("*.dist-info")}
        assert dists == {p.split("==")[0].lower().replace("_", "-") for p in pins}
        # srchain's own reader and ops's read the same actions and config
        loaded = load_charm(d)
        assert set(loaded.actions) == set(craft["actions"]) and set(loaded.config_options) == set(
            craft["config"]["options"])
        ops_meta = ops.CharmMeta.from_charm_root(d)
        assert ops_meta.name == name and set(ops_meta.actions) == set(craft["actions"])


def test_libjuju_reads_each_charm_directory_as_model_deploy_does(charm_dirs: dict[str, Path],
                                                                 tmp_path: Path) -> None:
    for name, d in charm_dirs.items():
        # Model.deploy(local path): metadata.yaml ...
        metadata = juju_utils.get_local_charm_metadata(str(d))
        assert metadata["name"] == name
        # ... the base (no series given: from manifest.yaml) ...
        base = juju_utils.get_local_charm_base(None, str(d), juju_client.Base)
        assert (base.name, base.channel) == ("ubuntu", "24.04")
        # ... and the zip add_local_charm_dir uploads to the controller
        archive = tmp_path / f"{name}.charm"
        CharmArchiveGenerator(str(d)).make_archive(str(archive))
        with zipfile.ZipFile(archive) as z:
            names = set(z.namelist())
            assert {"dispatch", "metadata.yaml", "manifest.yaml", "actions.yaml", "config.yaml",
                    "src/charm.py", "venv/ops/__init__.py", "lib/srchain/__init__.py"} <= names
            assert (z.getinfo("dispatch").external_attr >> 16) & stat.S_IXUSR  # Juju runs it
            assert (z.getinfo("src/charm.py").external_attr >> 16) & stat.S_IXUSR
        assert juju_utils.get_local_charm_metadata(str(archive))["name"] == name  # the packed form reads too


# --- dispatch under a Juju stand-in (install hook) ------------------------------------------------------

HOOK_TOOL = '''#!{python}
import json, os, sys
tool = os.path.basename(sys.argv[0])
state = json.load(open(os.environ["STUB_STATE"]))
with open(os.environ["STUB_CALLS"], "a") as log:
    log.write(json.dumps({{"tool": tool, "args": sys.argv[1:]}}) + "\\n")
if tool == "config-get":
    print(json.dumps(state["config"]))
elif tool == "is-leader":
    print(json.dumps(state.get("leader", True)))
elif tool == "action-get":
    print(json.dumps(state.get("action-params", {{}})))
elif tool in ("secret-get", "secret-info-get"):
    sys.stderr.write("ERROR secret not found\\n")
    sys.exit(1)
elif tool == "opened-ports":
    print("[]")
'''
TOOLS = ("config-get", "is-leader", "status-set", "status-get", "juju-log", "action-get", "action-set",
         "action-fail", "action-log", "application-version-set", "opened-ports", "secret-get", "secret-info-get",
         "secret-add", "secret-set", "state-get", "state-set", "state-delete", "relation-ids", "relation-list",
         "relation-get", "relation-set", "goal-state", "network-get", "leader-get", "leader-set", "unit-get")


def _charm_python() -> tuple[str, bool]:
    """An interpreter of the charm base's Python (Ubuntu 24.04: 3.12) if this machine has one (the shipped
    venv then runs as it is), else this one's base interpreter (the venv is rebuilt for it)."""
    candidates = [*sorted(Path("/root/.pyenv/versions").glob("3.12*/bin/python3.12")), shutil.which("python3.12")]
    for candidate in filter(None, candidates):
        probe = subprocess.run([str(candidate), "-c", "import sys; print(sys.executable, *sys.version_info[:2])"],
                               capture_output=True, text=True, check=False)
        real, *version = probe.stdout.split() or ["", ""]
        if probe.returncode == 0 and version == ["3", "12"]:
            return real, True  # the real binary, not a version manager's shim
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    return str(base), False


def _run_install(charm: Path, python: str, work: Path) -> list[dict[str, Any]]:
    bin_dir = work / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(python)
    for tool in TOOLS:
        (bin_dir / tool).write_text(HOOK_TOOL.format(python=python))
        (bin_dir / tool).chmod(0o755)
    options = (yaml.safe_load((charm / "config.yaml").read_text()) or {}).get("options") or {}
    state = {"config": {k: v["default"] for k, v in options.items() if "default" in v}, "leader": True}
    (work / "state.json").write_text(json.dumps(state))
    calls = work / "calls.jsonl"
    calls.touch()
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(work), "LANG": "C.UTF-8",
           "STUB_STATE": str(work / "state.json"), "STUB_CALLS": str(calls),
           "JUJU_DISPATCH_PATH": "hooks/install", "JUJU_HOOK_NAME": "install", "JUJU_CHARM_DIR": str(charm),
           "JUJU_UNIT_NAME": f"{charm.name}/0", "JUJU_MODEL_NAME": "osm-ns", "JUJU_VERSION": "3.4.0",
           "JUJU_MODEL_UUID": "00000000-0000-4000-8000-000000000000", "JUJU_CONTEXT_ID": f"{charm.name}/0-install-1"}
    done = subprocess.run(["./dispatch"], cwd=charm, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, f"{charm.name}: dispatch exited {done.returncode}: {done.stderr[-2000:]}"
    return [json.loads(line) for line in calls.read_text().splitlines()]


def test_dispatch_runs_each_charm_install_hook_under_a_juju_standin(charm_dirs: dict[str, Path],
                                                                    tmp_path: Path) -> None:
    python, is_base_python = _charm_python()
    probe = subprocess.run([python, "-c", "import ops"], capture_output=True, env={"PATH": "/usr/bin:/bin"},
                           check=False)
    assert probe.returncode != 0, f"{python} has ops installed: it would hide a missing venv/"
    for name, shipped in charm_dirs.items():
        charm = tmp_path / name
        shutil.copytree(shipped, charm, symlinks=True)  # the unit's own copy (ops writes .unit-state.db)
        if not is_base_python:  # rebuild venv/ for the interpreter this machine has
            from srchain.osm.charmbuild import build_venv, charm_target

            craft = yaml.safe_load((charm / "charmcraft.yaml").read_text())
            target = charm_target(craft, name, f"{sys.version_info.major}.{sys.version_info.minor}")
            venv = build_venv((charm / "requirements.txt").read_text().split(),
                              (Path.cwd() / "requirements.lock").read_text(), target)
            shutil.rmtree(charm / "venv")
            shutil.copytree(venv, charm / "venv")
        work = tmp_path / f"{name}-juju"
        work.mkdir()
        calls = _run_install(charm, python, work)
        logs = [" ".join(c["args"]) for c in calls if c["tool"] == "juju-log"]
        assert any("Emitting Juju event install" in line for line in logs), (name, logs)
        statuses = [c["args"] for c in calls if c["tool"] == "status-set"]
        assert statuses, (name, calls)
        assert INSTALL_STATUS[name] in statuses[-1], (name, statuses)
