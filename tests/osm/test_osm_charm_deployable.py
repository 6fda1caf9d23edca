"""The charms inside the built packages are deployable as OSM deploys them (docs/osm.md, "What a package's
charm holds", "Supported OSM, Juju and Ubuntu"): LCM points N2VC at `<package>/charms/<charm>`, N2VC passes that
directory to libjuju's `Model.deploy`, Juju runs its `dispatch` on the machine's Python (Ubuntu 22.04: 3.10).

(a) Every charm of the session's packages (built without venv/, conftest) ships the files charmcraft packs, with
config types Juju 2.9 accepts. (b) One package built with venv/, once: its checksums cover the venv, python-libjuju
(PyPI `juju`) reads its charm as `Model.deploy` does (`get_local_charm_metadata`, `get_local_charm_base`,
`CharmArchiveGenerator`), the venv holds exactly requirements.txt, all locked. (c) The vendored code (lib/, src/)
needs no Python newer than 3.10 (vermin, pinned). (d) Each charm's `dispatch` runs as Juju 2.9 and 3.x run it for
the install hook: `JUJU_*` environment, hook tools on PATH (tiny stubs backed by a JSON file, recording every call;
no `secret-*` tools for 2.9), an interpreter of the base's Python that has none of the charm's dependencies; ops
reaches the install handler. On another Python, dispatch refuses with a status that says why."""

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

from srchain.osm.charmbuild import CONFIG_TYPES, PYTHON_PINS, meta_files
from srchain.osm.charmmeta import load_charm
from srchain.osm.findings import OsmToolError
from srchain.osm.im import ImValidator
from srchain.osm.package import build_package, check_packages, stage_charm

REPO = Path(__file__).resolve().parents[2]
CHARMS = ("srchain-aggregator", "srchain-classifier", "srchain-controller", "srchain-formatter",
          "srchain-mitigation", "srchain-p4-switch", "srchain-sr-proxy")
BASE_PYTHON = "3.10"  # ubuntu@22.04
# What the install handler of each charm reports with nothing configured (no VM, switch or inventory).
INSTALL_STATUS = dict.fromkeys(CHARMS, "blocked")
LOCKED = set((REPO / "requirements.lock").read_text().split()) | set(PYTHON_PINS[BASE_PYTHON].values())


def _extract(tar_path: Path, root: Path) -> dict[str, Path]:
    with tarfile.open(tar_path, "r:gz") as tar:
        tar.extractall(root, filter="data")  # as the NBI stores a package: extracted, modes kept
    top = root / tar_path.name.removesuffix(".tar.gz")
    return {d.name: d for d in sorted((top / "charms").iterdir()) if d.is_dir()}


@pytest.fixture(scope="module")
def charm_dirs(built_packages: list[Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """charm name -> its directory in the session's packages (no venv/)."""
    root = tmp_path_factory.mktemp("extracted")
    return {name: d for tar_path in built_packages for name, d in _extract(tar_path, root).items()}


def test_every_charm_ships_the_files_charmcraft_packs(charm_dirs: dict[str, Path]) -> None:
    assert sorted(charm_dirs) == list(CHARMS)
    for name, d in charm_dirs.items():
        for f in ("metadata.yaml", "actions.yaml", "config.yaml", "manifest.yaml", "dispatch", "src/charm.py"):
            assert (d / f).is_file(), f"{name}: {f} missing"
        for f in ("dispatch", "src/charm.py"):
            assert os.stat(d / f).st_mode & stat.S_IXUSR, f"{name}: {f} is not executable"
        dispatch = (d / "dispatch").read_text()
        assert dispatch.startswith("#!/bin/sh\n") and dispatch.endswith(  # charmcraft's last line, byte for byte
            'JUJU_DISPATCH_PATH="${JUJU_DISPATCH_PATH:-$0}" PYTHONPATH=lib:venv \\\n  exec ./src/charm.py\n')
        assert "sys.version_info[:2] != (3, 10)" in dispatch
        assert not (d / "venv").exists()  # the session's packages are built without it (test (b) has one)
        assert (d / "lib/srchain/__init__.py").is_file()
        craft = yaml.safe_load((d / "charmcraft.yaml").read_text())
        assert craft["base"] == "ubuntu@22.04"
        assert yaml.safe_load((d / "actions.yaml").read_text()) == craft["actions"]
        config = yaml.safe_load((d / "config.yaml").read_text())
        assert config == craft["config"]
        # Juju 2.9 (OSM's VCA) refuses a charm with another option type, e.g. `secret` (Juju 3)
        assert {o["type"] for o in config["options"].values()} <= set(CONFIG_TYPES), name
        meta = yaml.safe_load((d / "metadata.yaml").read_text())
        # no `series`: bases only; relation endpoints as declared (the relation proxy-login / controller-login)
        assert meta == {k: craft[k] for k in ("name", "summary", "description", "provides", "requires") if k in craft}
        manifest = yaml.safe_load((d / "manifest.yaml").read_text())
        assert manifest["bases"] == [{"name": "ubuntu", "channel": "22.04", "architectures": ["amd64"]}]
        pins = (d / "requirements.txt").read_text().split()
        assert "ops==3.9.0" in pins and set(pins) <= LOCKED, set(pins) - LOCKED
        # srchain's own reader and ops's read the same actions and config
        loaded = load_charm(d)
        assert set(loaded.actions) == set(craft["actions"]) and set(loaded.config_options) == set(
            craft["config"]["options"])
        ops_meta = ops.CharmMeta.from_charm_root(d)
        assert ops_meta.name == name and set(ops_meta.actions) == set(craft["actions"])
        endpoints = {**craft.get("provides", {}), **craft.get("requires", {})}
        assert {n: r.interface_name for n, r in {**ops_meta.provides, **ops_meta.requires}.items()} == {
            n: r["interface"] for n, r in endpoints.items()}


def test_a_config_option_juju_29_refuses_stops_the_build() -> None:
    craft = yaml.safe_load((REPO / "charms/srchain-sr-proxy/charmcraft.yaml").read_text())
    craft["config"]["options"]["control-token"]["type"] = "secret"
    with pytest.raises(OsmToolError, match=r"srchain-sr-proxy: config option types Juju 2.9 \(OSM's VCA\) refuses: "
                                           r"control-token \(secret\)"):
        meta_files(craft, "srchain-sr-proxy")


# --- one package with venv/, once ---------------------------------------------------------------------------

def test_one_package_with_venv_is_reproducible_checked_and_read_by_libjuju(tmp_path: Path, im: ImValidator) -> None:
    a = build_package(REPO / "vnfd/formatter", tmp_path / "a", im)
    b = build_package(REPO / "vnfd/formatter", tmp_path / "b", im)
    assert a.read_bytes() == b.read_bytes()  # reproducible with the venv (hard links from the cache, fixed mtimes)
    assert check_packages([a], im) == []  # checksums.txt covers every venv/ file
    d = _extract(a, tmp_path / "x")["srchain-formatter"]
    pins = (d / "requirements.txt").read_text().split()
    assert set(pins) <= LOCKED, set(pins) - LOCKED
    assert "pycparser==3.11" in pins  # the lock's 3.12 needs Python 3.11; the 22.04 venv takes 3.11 (PYTHON_PINS)
    dists = {p.name.split("-")[0].lower().replace("_", "-") for p in (d / "venv").glob("*.dist-info")}
    assert dists == {p.split("==")[0].lower().replace("_", "-") for p in pins}
    assert (d / "venv/ops/__init__.py").is_file() and (d / "venv/pydantic/__init__.py").is_file()
    abi = {w.name.split(".")[1] for w in (d / "venv/pydantic_core").glob("_pydantic_core.*.so")}
    assert abi == {"cpython-310-x86_64-linux-gnu"}, abi  # compiled for the base's Python
    # Model.deploy(local path): metadata.yaml, then the base (N2VC passes the machine's series; none: manifest) ...
    assert juju_utils.get_local_charm_metadata(str(d))["name"] == "srchain-formatter"
    base = juju_utils.get_local_charm_base(None, str(d), juju_client.Base)
    assert (base.name, base.channel) == ("ubuntu", "22.04")
    assert juju_utils.get_local_charm_base("jammy", str(d), juju_client.Base).channel == "22.04"
    # ... and the zip add_local_charm_dir uploads to the controller
    archive = tmp_path / "srchain-formatter.charm"
    CharmArchiveGenerator(str(d)).make_archive(str(archive))
    with zipfile.ZipFile(archive) as z:
        names = set(z.namelist())
        assert {"dispatch", "metadata.yaml", "manifest.yaml", "actions.yaml", "config.yaml", "src/charm.py",
                "venv/ops/__init__.py", "lib/srchain/__init__.py"} <= names
        assert (z.getinfo("dispatch").external_attr >> 16) & stat.S_IXUSR  # Juju runs it
        assert (z.getinfo("src/charm.py").external_attr >> 16) & stat.S_IXUSR
    assert juju_utils.get_local_charm_metadata(str(archive))["name"] == "srchain-formatter"


# --- the vendored code runs on the base's Python (3.10) -------------------------------------------------------

def _vermin(*paths: Path) -> subprocess.CompletedProcess[str]:
    # `file`: a Python 2 builtin vermin would read into a variable of that name; `# novermin` marks
    # TYPE_CHECKING-only imports; annotations are checked too (pydantic evaluates them at run time)
    return subprocess.run([sys.executable, "-c", "import sys; from vermin import main; sys.exit(main())",
                           "--no-tips", "--violations", f"-t={BASE_PYTHON}-",
                           "--eval-annotations", "--exclude", "file", *map(str, paths)],
                          capture_output=True, text=True, check=False)


def test_vendored_code_needs_no_python_newer_than_the_base(charm_dirs: dict[str, Path], tmp_path: Path) -> None:
    # every charm's src/charm.py and its lib/ (the same vendored files in every charm: each checked once)
    lib = {p.relative_to(d / "lib"): p for d in charm_dirs.values() for p in (d / "lib").rglob("*.py")}
    assert Path("srchain_contracts/records.py") in lib
    done = _vermin(*sorted(lib.values()), *(d / "src/charm.py" for d in charm_dirs.values()))
    assert done.returncode == 0, done.stdout[-3000:]
    # the check sees what 3.10 lacks (what records.py used before: typing.Self, enum.StrEnum)
    probe = tmp_path / "probe.py"
    probe.write_text("import enum\nfrom typing import Self\n\nclass R(enum.StrEnum):\n    A = 'a'\n")
    done = _vermin(probe)
    assert done.returncode != 0 and "'typing.Self' member requires !2, 3.11" in done.stdout, done.stdout


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
elif tool in ("opened-ports", "relation-ids"):  # no ports, no relations yet (the sr-proxy charm asks at install)
    print("[]")
'''
TOOLS = ("config-get", "is-leader", "status-set", "status-get", "juju-log", "action-get", "action-set",
         "action-fail", "action-log", "application-version-set", "opened-ports", "state-get", "state-set",
         "state-delete", "relation-ids", "relation-list", "relation-get", "relation-set", "goal-state", "network-get",
         "leader-get", "leader-set", "unit-get")
SECRET_TOOLS = ("secret-get", "secret-info-get", "secret-add", "secret-set")  # Juju 3.x only


def _charm_python() -> tuple[str, str]:
    """(interpreter, X.Y): one of the charm base's Python (Ubuntu 22.04: 3.10) if this machine has one (the
    venv is then built exactly as shipped), else this one's base interpreter (the venv is built for it)."""
    candidates = [*sorted(Path("/root/.pyenv/versions").glob(f"{BASE_PYTHON}*/bin/python{BASE_PYTHON}")),
                  shutil.which(f"python{BASE_PYTHON}")]
    for candidate in filter(None, candidates):
        probe = subprocess.run([str(candidate), "-c", "import sys; print(sys.executable, *sys.version_info[:2])"],
                               capture_output=True, text=True, check=False)
        real, *version = probe.stdout.split() or ["", ""]
        if probe.returncode == 0 and ".".join(version) == BASE_PYTHON:
            return real, BASE_PYTHON  # the real binary, not a version manager's shim
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return str(Path(sys.base_prefix) / "bin" / f"python{version}"), version


@pytest.fixture(scope="module")
def units(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Path]]:
    """Every charm as a deployable directory with venv/ for the Python the test runs dispatch with (the venvs
    come from the content-keyed cache and are hard-linked, so this is cheap after the first build)."""
    python, version = _charm_python()
    root = tmp_path_factory.mktemp("units")
    return python, {name: stage_charm(REPO / "charms" / name, root / name, version) for name in CHARMS}


def _run_dispatch(charm: Path, python: str, work: Path, juju_version: str,
                  hook: str = "install") -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    bin_dir = work / "bin"
    bin_dir.mkdir(exist_ok=True)
    if not (bin_dir / "python3").exists():
        (bin_dir / "python3").symlink_to(python)
    for tool in TOOLS + (SECRET_TOOLS if not juju_version.startswith("2.") else ()):
        (bin_dir / tool).write_text(HOOK_TOOL.format(python=sys.executable))
        (bin_dir / tool).chmod(0o755)
    options = (yaml.safe_load((charm / "config.yaml").read_text()) or {}).get("options") or {}
    state = {"config": {k: v["default"] for k, v in options.items() if "default" in v}, "leader": True}
    (work / "state.json").write_text(json.dumps(state))
    calls = work / "calls.jsonl"
    calls.touch()
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(work), "LANG": "C.UTF-8",
           "STUB_STATE": str(work / "state.json"), "STUB_CALLS": str(calls),
           "JUJU_DISPATCH_PATH": f"hooks/{hook}", "JUJU_HOOK_NAME": hook, "JUJU_CHARM_DIR": str(charm),
           "JUJU_UNIT_NAME": f"{charm.name}/0", "JUJU_MODEL_NAME": "osm-ns", "JUJU_VERSION": juju_version,
           "JUJU_MODEL_UUID": "00000000-0000-4000-8000-000000000000", "JUJU_CONTEXT_ID": f"{charm.name}/0-{hook}-1"}
    done = subprocess.run(["./dispatch"], cwd=charm, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    return done, [json.loads(line) for line in calls.read_text().splitlines()]


def _unit_copy(shipped: Path, dest: Path) -> Path:
    """The unit's own copy of the charm (ops writes .unit-state.db there); venv/ files hard-linked."""
    shutil.copytree(shipped, dest, symlinks=True, copy_function=os.link)
    return dest


@pytest.mark.parametrize("juju_version", ["2.9.43", "3.4.0"])  # OSM's VCA (installer), and a Juju with secrets
def test_dispatch_runs_each_charm_install_hook_under_a_juju_standin(units: tuple[str, dict[str, Path]],
                                                                    tmp_path: Path, juju_version: str) -> None:
    python, shipped = units
    probe = subprocess.run([python, "-c", "import ops"], capture_output=True, env={"PATH": "/usr/bin:/bin"},
                           check=False)
    assert probe.returncode != 0, f"{python} has ops installed: it would hide a missing venv/"
    for name, unit in shipped.items():
        charm = _unit_copy(unit, tmp_path / name)
        work = tmp_path / f"{name}-juju"
        work.mkdir()
        done, calls = _run_dispatch(charm, python, work, juju_version)
        assert done.returncode == 0, f"{name}: dispatch exited {done.returncode}: {done.stderr[-2000:]}"
        logs = [" ".join(c["args"]) for c in calls if c["tool"] == "juju-log"]
        assert any("Emitting Juju event install" in line for line in logs), (name, logs)
        statuses = [c["args"] for c in calls if c["tool"] == "status-set"]
        assert statuses, (name, calls)
        assert INSTALL_STATUS[name] in statuses[-1], (name, statuses)
        assert not [c for c in calls if c["tool"].startswith("secret-")], name  # install reads no secret


def test_dispatch_on_another_python_says_which_base_it_needs(units: tuple[str, dict[str, Path]],
                                                             tmp_path: Path) -> None:
    """N2VC's default machine series is bionic (Python 3.6): the unit says so instead of a traceback."""
    python, shipped = units
    charm = _unit_copy(shipped["srchain-formatter"], tmp_path / "srchain-formatter")
    work = tmp_path / "juju"
    (work / "bin").mkdir(parents=True)
    fake = work / "bin" / "python3"  # what `python3` answers on Ubuntu 18.04
    fake.write_text('#!/bin/sh\nif [ "$1" = "-V" ]; then echo "Python 3.6.9"; exit 0; fi\n'
                    'if [ "$1" = "-c" ]; then exit 1; fi\necho "python3 ran the charm" >&2; exit 3\n')
    fake.chmod(0o755)
    done, calls = _run_dispatch(charm, python, work, "2.9.43")
    assert done.returncode == 1, done.stderr
    version = "3.10" if python.endswith("3.10") else f"{sys.version_info.major}.{sys.version_info.minor}"
    expected = f"this charm needs ubuntu@22.04 (Python {version}); this machine has Python 3.6.9"
    assert [c["args"] for c in calls if c["tool"] == "status-set"] == [["blocked", expected]]
    assert [c["args"] for c in calls if c["tool"] == "juju-log"] == [["-l", "ERROR", expected]]
    assert "python3 ran the charm" not in done.stderr
