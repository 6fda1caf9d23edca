"""A normal (non-editable) install works outside the checkout: a wheel built from this tree, installed
into a fresh venv, runs `srchain demo --plan-only`, `srchain p4 check` and `srchain package build` from a
directory that is not the repository, with nothing found through the checkout.

The fresh venv gets the project's third-party dependencies from .venv through a .pth line (a directory
named in a .pth is put on sys.path, but its own .pth files, among them the editable install's finder,
are not run), so the only srchain it can import is the installed wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from srchain.osm.charmbuild import PYTHON_PINS

REPO = Path(__file__).resolve().parents[2]
YANG_ENV = "SRCHAIN_OSM_IM_YANG"
SHARED_YANG = REPO.parent / "shared" / "osm-im" / "yang"  # the OSM tests' copy (tests/osm/conftest.py)


@dataclass
class Installed:
    venv: Path
    cwd: Path  # outside the repository
    env: dict[str, str]

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), cwd=self.cwd, env=self.env, capture_output=True, text=True,
                              timeout=timeout)


def _source_copy(dst: Path) -> Path:
    """The working tree's files (tracked and new, not ignored; links kept), without build/ or egg-info."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True, timeout=60).stdout.decode().split("\0")
    for name in filter(None, listed):
        src = REPO / name
        if not os.path.lexists(src):  # deleted in the working tree
            continue
        (dst / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst / name, follow_symlinks=False)
    return dst


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    tmp = tmp_path_factory.mktemp("install")
    assert not tmp.resolve().is_relative_to(REPO)
    source = _source_copy(tmp / "src")
    wheels = tmp / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(wheels), str(source)], check=True, capture_output=True, timeout=180)
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True, timeout=60).stdout.strip())
    (site / "_srchain_test_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                    "--no-index", *map(str, wheels.glob("srchain-*.whl"))], check=True, capture_output=True,
                   timeout=180)
    cwd = tmp / "elsewhere"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
    env["XDG_STATE_HOME"] = str(tmp / "state")
    return Installed(venv, cwd, env)


def test_the_installed_packages_are_the_wheel_not_the_checkout(installed: Installed) -> None:
    probe = ("import importlib, sys\n"
             "for name in ('srchain', 'srchain_demo', 'srchain_emu', 'srchain_vnfs', 'srchain_contracts'):\n"
             "    print(importlib.import_module(name).__file__)\n"
             "from srchain_demo.shipped import P4_PROGRAM, INVENTORY\n"
             "print(P4_PROGRAM); print(INVENTORY)\n")
    done = installed.run(str(installed.venv / "bin" / "python"), "-c", probe)
    assert done.returncode == 0, done.stderr
    paths = [Path(p) for p in done.stdout.split()]
    assert len(paths) == 7 and all(p.is_relative_to(installed.venv) for p in paths), paths
    assert all(p.is_file() and not p.is_symlink() for p in paths), paths


def test_demo_plan_only(installed: Installed) -> None:
    done = installed.run("srchain", "demo", "--plan-only")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1. the reference chain: validate and plan" in done.stdout
    assert "chain cloud-gaming  version v1" in done.stdout
    assert "2. day 2: insert attack mitigation on the data path" in done.stdout
    assert "chain cloud-gaming  version v2" in done.stdout


def test_p4_check_of_the_repository_program_and_of_the_shipped_copy(installed: Installed) -> None:
    shipped = installed.run(str(installed.venv / "bin" / "python"), "-c",
                            "from srchain_demo.shipped import P4_PROGRAM; print(P4_PROGRAM)").stdout.strip()
    for program in (str(REPO / "p4" / "srchain_node.p4"), shipped):
        done = installed.run("srchain", "p4", "check", program)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"{program}: ok (") and " tables, " in done.stdout


def test_package_build_with_explicit_inputs(installed: Installed) -> None:
    yang = os.environ.get(YANG_ENV) or str(SHARED_YANG)
    assert Path(yang, "sol006").is_dir(), f"the OSM IM YANG is needed: set {YANG_ENV} (tests/osm/conftest.py)"
    installed.env[YANG_ENV] = yang
    done = installed.run("srchain", "package", "build", str(REPO / "vnfd" / "formatter"),
                         "--charms", str(REPO / "charms"), "--out", "pkgs")
    assert done.returncode == 0, done.stdout + done.stderr
    target = installed.cwd / "pkgs" / "srchain-formatter_vnf.tar.gz"
    assert done.stdout.splitlines() == [f"built {Path('pkgs') / target.name}", "OK: 1 item(s) valid"]
    with tarfile.open(target) as tar:
        names = set(tar.getnames())
        charm = "srchain-formatter_vnf/charms/srchain-formatter"
        pins = tar.extractfile(f"{charm}/requirements.txt").read().decode().split()  # type: ignore[union-attr]
    # The installed srchain vendors itself and srchain_vnfs (the charm imports it) and pins from the shipped lock.
    assert {f"{charm}/lib/srchain/charms/vnf_service.py", f"{charm}/lib/srchain_vnfs/formatter.py"} <= names
    # every pin the lock's, or the charm base's replacement for one that does not install on its Python
    lock = set((REPO / "requirements.lock").read_text().split()) | set(PYTHON_PINS["3.10"].values())
    assert "ops==3.9.0" in pins and set(pins) <= lock
    assert f"{charm}/venv/ops/__init__.py" in names and f"{charm}/dispatch" in names  # deployable


def test_package_build_outside_a_checkout_says_what_to_pass(installed: Installed) -> None:
    done = installed.run("srchain", "package", "build")
    assert done.returncode == 1
    assert done.stderr.strip() == (f"Error: not inside a srchain checkout (no vnfd/, nsd/, charms/ in {installed.cwd} "
                                   "or above): pass the package folders to build (e.g. vnfd/formatter), --charms "
                                   "and --out")
