from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from osm_sshd import SshLab
from osm_switchlab import EmulatedSwitch
from osm_unitlab import service, udp_endpoints
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


@pytest.fixture(scope="session")
def charm_python() -> tuple[str, str]:
    """(interpreter, X.Y) the charms' dispatch runs with: the base's Python 3.10 when this machine has one."""
    from test_osm_charm_deployable import _charm_python

    return _charm_python()


@pytest.fixture(scope="session")
def staged(charm_python: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every charm as its package ships it, venv/ for the charms' Python (from the cache: hard links), the P4
    switch charm with the SR node program's bundle (`--p4-bundle`); for the unit-agent stand-in's tests."""
    from osm_switchlab import PROGRAM, compile_artifacts

    from srchain.osm.package import ship_p4_bundles, stage_charm

    root = tmp_path_factory.mktemp("staged")
    names = [p.name for p in sorted((REPO / "charms").iterdir()) if (p / "charmcraft.yaml").is_file()]
    charms = {n: stage_charm(REPO / "charms" / n, root / n, charm_python[1]) for n in names}
    built = compile_artifacts(tmp_path_factory.mktemp("p4"))
    ship_p4_bundles([built / PROGRAM], charms["srchain-p4-switch"] / "p4")
    return charms


@pytest.fixture
def formatter(tmp_path: Path) -> Iterator[dict]:
    """A formatter config on free loopback ports and a restart script that (re)starts the real service."""
    with service(tmp_path, "formatter", udp_endpoints()) as svc:
        yield svc


@pytest.fixture
def sw() -> Iterator[EmulatedSwitch]:
    """The emulated Tofino (BF Runtime gRPC on loopback) running the SR node program's P4Info."""
    s = EmulatedSwitch()
    try:
        yield s
    finally:
        s.stop()


def _sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=30)


@pytest.fixture
def veths() -> Iterator[tuple[str, str, str]]:
    """Two veth pairs for the mitigation's legs (in: i0, out: o0) and the sender's end i1."""
    names = [(f"so{os.getpid()}i0", f"so{os.getpid()}i1"), (f"so{os.getpid()}o0", f"so{os.getpid()}o1")]
    try:
        for a, b in names:
            subprocess.run(["ip", "link", "del", a], capture_output=True, timeout=30)
            _sh("ip", "link", "add", a, "type", "veth", "peer", "name", b)
            for n in (a, b):
                subprocess.run(["sysctl", "-qw", f"net.ipv6.conf.{n}.disable_ipv6=1"], capture_output=True, timeout=30)
                _sh("ip", "link", "set", n, "up")
        yield names[0][0], names[1][0], names[0][1]
    finally:
        for a, _ in names:
            subprocess.run(["ip", "link", "del", a], capture_output=True, timeout=30)
