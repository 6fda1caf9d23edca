"""Package build and check: OSM's tar rules, checksums, charms inside, reproducible output; broken
packages are refused with the rule's message."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from osmlib import REPO

from srchain.osm.findings import OsmToolError
from srchain.osm.im import ImValidator
from srchain.osm.package import build_package, check_layout, check_packages


@pytest.fixture(scope="module")
def built(built_packages: list[Path]) -> list[Path]:
    return built_packages  # every folder of vnfd/ and nsd/ (conftest)


def _members(tar_path: Path) -> dict[str, bytes]:
    with tarfile.open(tar_path, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def test_every_package_is_built_and_passes_the_check(built: list[Path], im: ImValidator) -> None:
    assert sorted(p.name for p in built) == [
        "srchain-aggregator_vnf.tar.gz", "srchain-classifier_vnf.tar.gz", "srchain-cloud-gaming_ns.tar.gz",
        "srchain-formatter_vnf.tar.gz", "srchain-mitigation_vnf.tar.gz", "srchain-sr-proxy_vnf.tar.gz",
        "srchain-tofino-s1_vnf.tar.gz",
    ]
    assert check_packages(built, im) == []


def test_package_layout_follows_osm_rules(built: list[Path]) -> None:
    pnf = next(p for p in built if p.name == "srchain-tofino-s1_vnf.tar.gz")
    files = _members(pnf)
    top = "srchain-tofino-s1_vnf"
    assert all(name.startswith(top + "/") for name in files)
    assert [n for n in files if n.count("/") == 1 and n.endswith(".yaml")] == [f"{top}/tofino-s1_vnfd.yaml"]
    assert f"{top}/charms/srchain-p4-switch/charmcraft.yaml" in files
    assert f"{top}/charms/srchain-p4-switch/src/charm.py" in files
    lines = files[f"{top}/checksums.txt"].decode().splitlines()
    listed = dict(reversed(line.split("\t")) for line in lines)
    assert set(listed) == set(files) - {f"{top}/checksums.txt"}
    for path, digest in listed.items():
        assert hashlib.md5(files[path]).hexdigest() == digest
    proxy = _members(next(p for p in built if p.name == "srchain-sr-proxy_vnf.tar.gz"))
    assert "srchain-sr-proxy_vnf/cloud_init/sr-proxy-cloud-init.cfg" in proxy


def test_builds_are_reproducible(tmp_path: Path, im: ImValidator) -> None:
    a = build_package(REPO / "vnfd/sr-proxy", tmp_path / "a", im, venv=False)  # with venv/: test_osm_charm_deployable
    b = build_package(REPO / "vnfd/sr-proxy", tmp_path / "b", im, venv=False)
    assert a.read_bytes() == b.read_bytes()


def test_invalid_folder_is_not_built(tmp_path: Path, im: ImValidator) -> None:
    out = tmp_path / "out"
    with pytest.raises(OsmToolError) as e:
        build_package(REPO / "tests/osm/broken/charm-action", out, im, venv=False)
    assert "is not valid; not building srchain-sr-proxy_vnf" in str(e.value)
    assert "[charm.action] 'add-sids' is not an action of charm 'srchain-sr-proxy'" in str(e.value)
    assert not out.exists() or list(out.iterdir()) == []  # nothing half-written


def test_folder_with_two_yaml_files_is_refused(tmp_path: Path, im: ImValidator) -> None:
    folder = tmp_path / "pkg"
    folder.mkdir()
    (folder / "a_vnfd.yaml").write_text((REPO / "vnfd/tofino-s1/tofino-s1_vnfd.yaml").read_text())
    (folder / "notes.yaml").write_text("x: 1\n")
    with pytest.raises(OsmToolError, match=r"exactly one YAML file at its top.*a_vnfd\.yaml, notes\.yaml"):
        build_package(folder, tmp_path / "out", im, venv=False)


def _tar(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _sums(top: str, files: dict[str, bytes]) -> bytes:
    return "".join(f"{hashlib.md5(d).hexdigest()}\t{n}\n" for n, d in files.items()).encode()


VNFD = (REPO / "vnfd/tofino-s1/tofino-s1_vnfd.yaml").read_bytes()


def test_checksum_mismatch_is_refused(tmp_path: Path) -> None:
    files = {"p/p_vnfd.yaml": VNFD}
    sums = _sums("p", files).replace(hashlib.md5(VNFD).hexdigest().encode(), b"0" * 32)
    findings, _ = check_layout(_tar(tmp_path / "p.tar.gz", {**files, "p/checksums.txt": sums}))
    assert [(f.rule, f.path) for f in findings] == [("package.checksums", "p/p_vnfd.yaml")]
    assert findings[0].message.startswith("md5 mismatch: checksums.txt says 000")


def test_unlisted_file_and_missing_checksums_are_refused(tmp_path: Path) -> None:
    files = {"p/p_vnfd.yaml": VNFD}
    findings, _ = check_layout(_tar(tmp_path / "a.tar.gz", files))
    assert [(f.rule, f.message) for f in findings] == [("package.checksums", "checksums.txt is missing")]
    extra = {**files, "p/checksums.txt": _sums("p", files), "p/icons/x.png": b"png"}
    findings, _ = check_layout(_tar(tmp_path / "b.tar.gz", extra))
    assert [(f.path, f.message) for f in findings] == [("p/icons/x.png", "file is not listed in checksums.txt")]


def test_two_top_directories_and_two_descriptors_are_refused(tmp_path: Path) -> None:
    findings, top = check_layout(_tar(tmp_path / "a.tar.gz", {"p/a.yaml": VNFD, "q/b.yaml": VNFD}))
    assert top is None
    assert [f.message for f in findings] == ["all files must be inside one top directory (found: p, q)"]
    files = {"p/a_vnfd.yaml": VNFD, "p/b_vnfd.yaml": VNFD}
    findings, _ = check_layout(_tar(tmp_path / "b.tar.gz", {**files, "p/checksums.txt": _sums("p", files)}))
    assert [f.rule for f in findings] == ["package.layout"]
    assert "exactly one descriptor (.yaml/.yml/.json) must sit directly in p/, found 2" in findings[0].message


def test_path_escaping_the_package_is_refused(tmp_path: Path) -> None:
    findings, _ = check_layout(_tar(tmp_path / "a.tar.gz", {"p/../../etc/x.yaml": b"x"}))
    assert ("package.layout", "absolute or '..' path") in [(f.rule, f.message) for f in findings]


def test_not_a_tarball_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "x.tar.gz"
    bad.write_bytes(b"not a tarball")
    findings, top = check_layout(bad)
    assert top is None and [f.rule for f in findings] == ["package.format"]


def test_package_without_its_charm_is_refused(tmp_path: Path, im: ImValidator) -> None:
    files = {"p/p_vnfd.yaml": VNFD}  # names charm srchain-p4-switch but does not ship it
    tar = _tar(tmp_path / "p.tar.gz", {**files, "p/checksums.txt": _sums("p", files)})
    findings = check_packages([tar], im)
    assert [f.rule for f in findings] == ["charm.present"]
    assert findings[0].file == "p.tar.gz/p/p_vnfd.yaml"
    assert "charm 'srchain-p4-switch' not found" in findings[0].message


def test_charms_carry_the_vendored_library_and_pinned_dependencies(built: list[Path]) -> None:
    files = _members(next(p for p in built if p.name == "srchain-sr-proxy_vnf.tar.gz"))
    charm = "srchain-sr-proxy_vnf/charms/srchain-sr-proxy"
    assert f"{charm}/lib/srchain/charms/sr_proxy.py" in files
    assert f"{charm}/lib/srchain/targets/proxy.py" in files
    assert not any("__pycache__" in n for n in files)
    pins = files[f"{charm}/requirements.txt"].decode().split()
    lock = set((REPO / "requirements.lock").read_text().split())
    assert "ops==3.9.0" in pins and any(p.startswith("pydantic==") for p in pins)
    assert set(pins) <= lock  # every pin is the project's locked version


@pytest.mark.parametrize("service", ["formatter", "mitigation"])
def test_vnf_charm_imports_resolve_from_its_lib(built: list[Path], tmp_path: Path, service: str) -> None:
    """A built VNF charm carries srchain_vnfs too: its charm.py, and the service config model it loads,
    import the project's code from the charm's lib/ only (as Juju's dispatch runs it)."""
    with tarfile.open(next(p for p in built if p.name == f"srchain-{service}_vnf.tar.gz"), "r:gz") as tar:
        tar.extractall(tmp_path, filter="data")
    charm = tmp_path / f"srchain-{service}_vnf/charms/srchain-{service}"
    assert (charm / f"lib/srchain_vnfs/{service}.py").is_file()
    probe = ("import sys, charm\n"
             "from srchain.charms import vnf_service\n"
             f"vnf_service._config_class({service!r})\n"
             "ours = {n: m.__file__ for n, m in sys.modules.items()\n"
             "        if n.split('.')[0] in ('srchain', 'srchain_vnfs')}\n"
             "assert 'srchain_vnfs.' + sys.argv[1] in ours, sorted(ours)\n"
             "bad = [f for f in ours.values() if not f.startswith(sys.argv[2])]\n"
             "assert not bad, bad\n")
    done = subprocess.run([sys.executable, "-c", probe, service, str(charm / "lib")], cwd=charm, timeout=60,
                          env={**os.environ, "PYTHONPATH": f"{charm / 'lib'}:{charm / 'src'}"},
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    pins = (charm / "requirements.txt").read_text().split()
    assert any(p.startswith("prometheus_client==") or p.startswith("prometheus-client==") for p in pins)
    assert any(p.startswith("paramiko==") for p in pins)  # the SSH transport
