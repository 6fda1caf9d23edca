from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from osm_sshd import SshLab
from osmlib import REPO, SHARED

from srchain.osm.im import YANG_ENV, ImValidator
from srchain.osm.package import build_package

# The suite validates against the shared OSM IM copy beside the checkout (a user installs osm_im or passes
# --im-yang); set here, so the CLI runs and subprocesses of these tests see it too.
os.environ.setdefault(YANG_ENV, str(SHARED / "osm-im" / "yang"))


@pytest.fixture(scope="session", autouse=True)
def _in_the_checkout() -> Iterator[None]:
    """The OSM commands default to the charms/, vnfd/ and nsd/ of the checkout they run in: this one,
    wherever pytest was started (session scope: the module fixtures that build packages need it too)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(REPO)
        yield


@pytest.fixture(scope="session")
def im() -> ImValidator:
    return ImValidator()


@pytest.fixture
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshLab]:
    """A real SSH server on 127.0.0.1 whose commands run on this machine (tests/osm/osm_sshd.py)."""
    lab = SshLab(tmp_path_factory.mktemp("vm")).start()
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="session")
def built_packages(tmp_path_factory: pytest.TempPathFactory, im: ImValidator) -> list[Path]:
    """Every package of vnfd/ and nsd/, built once per session: validated, charms complete except venv/ (their
    dependencies, ~55 MB each; test_osm_charm_deployable.py builds and checks those, once)."""
    out = tmp_path_factory.mktemp("pkgs")
    folders = sorted(p for base in ("vnfd", "nsd") for p in (REPO / base).iterdir() if p.is_dir())
    return [build_package(folder, out, im, venv=False) for folder in folders]
