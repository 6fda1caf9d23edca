"""K8s proxy charms (docs/osm.md "K8s proxy charms"): the packages deploy every proxy charm with `cloud: k8s`, which
LCM makes a `k8s_proxy_charm`; N2VC deploys it into `<ns_id>-k8s` without a machine or series, and libjuju 2.9.44
takes the series from the charm's metadata or the model's `default-series` and the base from `manifest.yaml`.

(a) The built descriptors name `cloud: k8s` for every proxy charm and pass OSM's IM (our validator and the shared
`osm-im-validate`); `--charm-cloud lxd` leaves OSM's default; a descriptor naming another cloud stops the build.
(b) `srchain.osm.n2vc_deploy` agrees with python-libjuju's own code (`bundle.get_charm_series`,
`utils.get_local_charm_base`, the same in 3.6.1.3 as in 2.9.44.0 for an ubuntu base) on every built charm, for the
model default-series jammy, unset and focal, and refuses with libjuju's message when neither is known.
(c) The NBI stand-in instantiates the k8s packages and fails the lxd ones with the reason."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from juju import bundle as juju_bundle
from juju import errors as juju_errors
from juju import utils as juju_utils
from juju.client import client as juju_client
from osmlib import NS_CONFIG, REPO, SHARED

from srchain.model.load import load_inventory
from srchain.osm.charmcloud import juju_blocks, set_charm_cloud
from srchain.osm.cli import osm_cli, package_cli
from srchain.osm.descriptors import Descriptor, collect
from srchain.osm.findings import OsmToolError
from srchain.osm.im import ImValidator
from srchain.osm.n2vc_deploy import DeployError, plan, runs_there, vca_type
from srchain.osm.nbi_standin import StandinNbi, StandinServer
from srchain.osm.package import build_package
from srchain.osm.pdu import pdu_descriptors

PROXY_CHARMS = ("srchain-aggregator", "srchain-classifier", "srchain-controller", "srchain-formatter",
                "srchain-mitigation", "srchain-p4-switch", "srchain-sr-proxy")
PASSWORD = "k8s-proxy-pass"
NS_ID = "0f3c-ns"


def _extract(tar_paths: list[Path], root: Path) -> list[Descriptor]:
    descriptors = []
    for tar_path in tar_paths:
        with tarfile.open(tar_path, "r:gz") as tar:
            tar.extractall(root, filter="data")
        found, problems = collect([root / tar_path.name.removesuffix(".tar.gz")])
        assert problems == [] and len(found) == 1
        descriptors.append(found[0])
    return descriptors


@pytest.fixture(scope="module")
def extracted(built_packages: list[Path], tmp_path_factory: pytest.TempPathFactory) -> list[Descriptor]:
    """The session's packages (built with the default cloud), extracted as the NBI stores them."""
    return _extract(built_packages, tmp_path_factory.mktemp("k8s"))


# --- (a) descriptors ------------------------------------------------------------------------------------------

def test_every_proxy_charm_is_a_k8s_proxy_charm_and_the_descriptors_pass_osm_im(
        extracted: list[Descriptor], im: ImValidator) -> None:
    seen = set()
    for desc in extracted:
        for block in juju_blocks(desc):
            assert block.get("cloud") == "k8s", f"{desc.file.name}: {block}"
            assert vca_type(block) == "k8s_proxy_charm"
            seen.add(block["charm"])
        assert im.errors(desc.data) == [], desc.file.name
        assert "#" in desc.file.read_text()  # edited in place: the source's comments survive
    assert sorted(seen) == list(PROXY_CHARMS)
    run = subprocess.run([sys.executable, str(SHARED / "tools/osm-im-validate"), *(str(d.file) for d in extracted)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{len(extracted)} valid, 0 invalid" in run.stdout


def test_charm_cloud_lxd_keeps_osm_default_and_the_cli_passes_the_choice(tmp_path: Path) -> None:
    source = (REPO / "vnfd/formatter/formatter_vnfd.yaml").read_text()
    lxd = build_package(REPO / "vnfd/formatter", tmp_path / "lxd", None, validate=False, venv=False,
                        charm_cloud="lxd")
    (desc,) = _extract([lxd], tmp_path / "x-lxd")
    assert desc.file.read_text() == source  # nothing to edit: OSM reads an absent cloud as lxd
    assert [vca_type(b) for b in juju_blocks(desc)] == ["lxc_proxy_charm"]
    result = CliRunner().invoke(package_cli, ["build", "vnfd/formatter", "--out", str(tmp_path / "cli"),
                                              "--no-venv", "--skip-validation", "--charm-cloud", "k8s"])
    assert result.exit_code == 0, result.output
    (desc,) = _extract([tmp_path / "cli/srchain-formatter_vnf.tar.gz"], tmp_path / "x-cli")
    assert desc.file.read_text() == source.replace("juju: {charm: srchain-formatter, proxy: true}",
                                                   "juju: {charm: srchain-formatter, proxy: true, cloud: k8s}")
    refused = CliRunner().invoke(package_cli, ["build", "vnfd/formatter", "--out", str(tmp_path / "cli"),
                                               "--no-venv", "--charm-cloud", "kvm"])
    assert refused.exit_code == 2 and "'kvm' is not one of 'k8s', 'lxd'" in refused.output


def test_a_block_style_juju_mapping_gets_the_cloud_too(tmp_path: Path) -> None:
    """A descriptor written by a YAML dumper (block style, no comments) is written back from its parsed form."""
    data = yaml.safe_load((REPO / "vnfd/sr-proxy/sr-proxy_vnfd.yaml").read_text())
    path = tmp_path / "sr-proxy_vnfd.yaml"
    path.write_text(yaml.safe_dump(data))
    result = set_charm_cloud(Descriptor(path, tmp_path, data), "k8s")
    reread = yaml.safe_load(path.read_text())
    assert reread == result.data and [b["cloud"] for b in juju_blocks(result)] == ["k8s"]
    assert ["cloud" in b for b in juju_blocks(Descriptor(path, tmp_path, data))] == [False]  # caller's data kept


def test_a_descriptor_naming_another_cloud_stops_the_build(tmp_path: Path) -> None:
    folder = tmp_path / "formatter"
    shutil.copytree(REPO / "vnfd/formatter", folder)
    vnfd = folder / "formatter_vnfd.yaml"
    vnfd.write_text(vnfd.read_text().replace("proxy: true}", "proxy: true, cloud: lxd}"))
    with pytest.raises(OsmToolError, match=r"formatter_vnfd.yaml: charm\(s\) srchain-formatter \(cloud: lxd\) "
                                           r"cannot be deployed on cloud 'k8s' as asked"):
        build_package(folder, tmp_path / "out", None, validate=False, venv=False, charm_cloud="k8s")
    assert not (tmp_path / "out").exists()  # nothing half-built


# --- (b) what N2VC + libjuju deploy --------------------------------------------------------------------------

class _Model:
    """What `get_charm_series` asks of a libjuju Model: its config, `default-series` unset or set."""

    def __init__(self, default_series: str | None) -> None:
        self.config: dict[str, Any] = {}
        if default_series is not None:
            self.config["default-series"] = juju_client.ConfigValue(source="model", value=default_series)

    async def get_config(self) -> dict[str, Any]:
        return self.config


def _libjuju(charm_dir: Path, default_series: str | None) -> tuple[str | None, tuple[str, str]]:
    """libjuju's Model.deploy for a local charm directory with series=None (model.py ≈1705–1716)."""
    metadata = juju_utils.get_local_charm_metadata(str(charm_dir))
    series = asyncio.run(juju_bundle.get_charm_series(metadata, _Model(default_series)))
    base = juju_utils.get_local_charm_base(series, str(charm_dir), juju_client.Base)
    return series, (base.name, base.channel)


@pytest.mark.parametrize("default_series", ["jammy", None, "focal"])
def test_the_deploy_model_agrees_with_libjuju_on_every_charm(extracted: list[Descriptor],
                                                             default_series: str | None) -> None:
    for desc in extracted:
        for block in juju_blocks(desc):
            charm_dir = desc.root / "charms" / block["charm"]
            dep = plan(charm_dir, block, NS_ID, default_series)
            assert (dep.series, dep.base) == _libjuju(charm_dir, default_series), charm_dir.name
            assert dep.vca_type == "k8s_proxy_charm" and dep.model == f"{NS_ID}-k8s"
            if default_series == "focal":  # a model defaulting to another series deploys the charm there
                assert runs_there(dep, charm_dir) == (
                    f"{charm_dir.name}: k8s_proxy_charm would run on ubuntu@20.04 (series focal), but the charm "
                    "is built for ubuntu@22.04")
            else:
                assert dep.base == ("ubuntu", "22.04") and runs_there(dep, charm_dir) is None


def test_an_lxc_proxy_charm_lands_on_bionic(extracted: list[Descriptor]) -> None:
    charm_dir = next(d.root for d in extracted if "formatter" in d.ident) / "charms/srchain-formatter"
    dep = plan(charm_dir, {"charm": "srchain-formatter", "proxy": True}, NS_ID, "jammy")
    assert (dep.vca_type, dep.model, dep.series, dep.base) == ("lxc_proxy_charm", NS_ID, "bionic", ("ubuntu", "18.04"))
    assert runs_there(dep, charm_dir) == ("srchain-formatter: lxc_proxy_charm would run on ubuntu@18.04 (series "
                                          "bionic), but the charm is built for ubuntu@22.04")


def test_no_series_and_no_base_is_refused_with_libjujus_message(extracted: list[Descriptor], tmp_path: Path) -> None:
    source = next(d.root for d in extracted if "formatter" in d.ident) / "charms/srchain-formatter"
    charm_dir = tmp_path / "srchain-formatter"
    shutil.copytree(source, charm_dir)
    (charm_dir / "manifest.yaml").unlink()
    with pytest.raises(juju_errors.JujuError) as libjuju:
        _libjuju(charm_dir, None)
    with pytest.raises(DeployError) as ours:
        plan(charm_dir, {"charm": "srchain-formatter", "cloud": "k8s"}, NS_ID, None)
    assert str(ours.value) == libjuju.value.message == f"Unable to determine base for charm : {charm_dir}"
    # a series libjuju 2.9.44 does not know (its table ends at kinetic) fails there too
    with pytest.raises(DeployError, match="Unknown series : noble"):
        plan(charm_dir, {"charm": "srchain-formatter", "cloud": "k8s"}, NS_ID, "noble")


# --- (c) the NBI stand-in ------------------------------------------------------------------------------------

def _instantiate(packages: list[Path], tmp: Path, im: ImValidator, default_series: str | None) -> tuple[Any, Any]:
    inv, _ = load_inventory(REPO / "examples/inventory.yaml")
    pdu = tmp / "s1_pdu.yaml"
    pdu.write_text(yaml.safe_dump(pdu_descriptors(inv, ["vim-1"])["s1"]))
    nbi = StandinNbi({"admin": PASSWORD}, ["vim-1"], im=im, op_delay_s=0.01, vca_default_series=default_series)
    server: StandinServer
    with nbi.serve() as server:
        env = {"OSM_HOSTNAME": server.url, "OSM_USER": "admin", "OSM_PASSWORD": PASSWORD, "OSM_PROJECT": "admin"}
        onboard = CliRunner().invoke(osm_cli, ["onboard", *map(str, packages), "--via", "nbi", "--pdu", str(pdu)],
                                     env=env)
        assert onboard.exit_code == 0, onboard.output
        created = CliRunner().invoke(osm_cli, ["ns-create", "--ns-name", "cg", "--nsd-name", "srchain-cloud-gaming",
                                               "--vim-account", "vim-1", "--config-file", str(NS_CONFIG), "--via",
                                               "nbi", "--timeout", "10"], env=env)
        return created, nbi.ns_view("cg")["nsState"]


def test_the_standin_instantiates_k8s_proxy_charms(built_packages: list[Path], tmp_path: Path,
                                                   im: ImValidator) -> None:
    created, state = _instantiate(built_packages, tmp_path, im, "jammy")
    assert created.exit_code == 0, created.output
    assert state == "READY"
    created, state = _instantiate(built_packages, tmp_path, im, "focal")
    assert created.exit_code == 1 and state == "BROKEN"
    assert ("srchain-controller: k8s_proxy_charm would run on ubuntu@20.04 (series focal), but the charm is built "
            "for ubuntu@22.04") in created.output


def test_the_standin_fails_lxc_proxy_charms_with_the_reason(tmp_path: Path, im: ImValidator) -> None:
    folders = sorted(p for base in ("vnfd", "nsd") for p in (REPO / base).iterdir() if p.is_dir())
    lxd = [build_package(f, tmp_path / "lxd", im, venv=False, charm_cloud="lxd") for f in folders]
    created, state = _instantiate(lxd, tmp_path, im, "jammy")
    assert created.exit_code == 1 and state == "BROKEN"
    # the NS charm and its members' (the mitigation standing by at px1 included), each named once
    for charm in PROXY_CHARMS:
        assert created.output.count(f"{charm}: lxc_proxy_charm would run on ubuntu@18.04 (series bionic), but the "
                                    "charm is built for ubuntu@22.04") == 1, charm
