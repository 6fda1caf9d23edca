"""The click groups the lead wires in as `srchain package …` and `srchain osm …`."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from osmlib import BROKEN, NS_CONFIG, REPO

from srchain.osm.cli import osm_cli, package_cli
from srchain.osm.im import YANG_ENV, ImValidator


def test_validate_build_validate_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO / "charms")  # defaults: vnfd/, nsd/ and charms/ of the checkout it runs in (above)
    runner = CliRunner()
    ok = runner.invoke(package_cli, ["validate", "--params", str(NS_CONFIG),
                                     "--inventory", str(REPO / "examples/inventory.yaml")])
    assert ok.exit_code == 0, ok.output
    assert ok.output.strip() == "OK: 7 item(s) valid"
    built = runner.invoke(package_cli, ["build", "--out", str(tmp_path), "--no-venv"])  # venv/: charm_deployable
    assert built.exit_code == 0, built.output
    assert len(list(tmp_path.glob("*.tar.gz"))) == 7
    again = runner.invoke(package_cli, ["validate", str(tmp_path), "--params", str(NS_CONFIG)])
    assert again.exit_code == 0, again.output


@pytest.mark.parametrize(("args", "instead"), [
    (["validate"], "pass the descriptors, folders or packages to validate"),
    (["build"], "pass the package folders to build (e.g. vnfd/formatter), --charms and --out"),
    (["build", str(REPO / "vnfd/formatter"), "--skip-validation"], "pass --out DIR (where the packages go)"),
])
def test_outside_a_checkout_the_defaults_say_what_to_pass(args: list[str], instead: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(package_cli, args)
    assert result.exit_code == 1
    assert result.output == (f"Error: not inside a srchain checkout (no vnfd/, nsd/, charms/ in {tmp_path.resolve()} "
                             f"or above): {instead}\n")
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_outside_a_checkout_a_charm_needs_charms_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(package_cli, ["build", str(REPO / "vnfd/formatter"), "--out", "pkgs"])
    assert result.exit_code == 1
    assert "charm 'srchain-formatter' not found under (no charm directories); pass --charms DIR" in result.output
    assert not (tmp_path / "pkgs").exists() or list((tmp_path / "pkgs").iterdir()) == []
    built = CliRunner().invoke(package_cli, ["build", str(REPO / "vnfd/formatter"), "--out", "pkgs",
                                             "--charms", str(REPO / "charms"), "--no-venv"])
    assert built.exit_code == 0, built.output
    assert [p.name for p in (tmp_path / "pkgs").iterdir()] == ["srchain-formatter_vnf.tar.gz"]


def test_validate_reports_broken_descriptor_and_fails() -> None:
    result = CliRunner().invoke(package_cli, ["validate", str(BROKEN / "charm-action")])
    assert result.exit_code == 1
    assert "[charm.action] 'add-sids' is not an action of charm 'srchain-sr-proxy'" in result.output


def test_missing_yang_directory_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(package_cli, ["validate", "--im-yang", str(tmp_path)])
    assert result.exit_code == 1
    assert f"Error: --im-yang: {tmp_path} is not an OSM IM YANG directory" in result.output


def test_yang_directory_from_the_environment_names_its_origin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(YANG_ENV, str(tmp_path))
    result = CliRunner().invoke(package_cli, ["validate", str(REPO / "vnfd/formatter")])
    assert result.exit_code == 1
    assert f"Error: ${YANG_ENV}: {tmp_path} is not an OSM IM YANG directory" in result.output


def test_explicit_im_yang_wins_over_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = os.environ[YANG_ENV]  # tests/osm/conftest.py: the shared copy
    monkeypatch.setenv(YANG_ENV, str(tmp_path))
    result = CliRunner().invoke(package_cli, ["validate", str(REPO / "vnfd/formatter"), "--im-yang", shared])
    assert result.exit_code == 0, result.output


def _without_osm_im(monkeypatch: pytest.MonkeyPatch) -> None:
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "osm_im" else find_spec(name, *a))


def test_installed_osm_im_is_used_when_nothing_is_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "osm_im").mkdir()
    (tmp_path / "osm_im/__init__.py").write_text("")
    for name in ("etsi_nfv_vnfd", "etsi_nfv_nsd"):
        (tmp_path / f"osm_im/{name}.py").write_text(f"class {name}:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(YANG_ENV)
    assert ImValidator().source == "installed osm_im package"


def test_no_im_anywhere_says_what_to_install_or_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(YANG_ENV)
    _without_osm_im(monkeypatch)
    result = CliRunner().invoke(package_cli, ["validate", str(REPO / "vnfd/formatter")])
    assert result.exit_code == 1
    assert "Error: no OSM IM to validate against: install OSM's IM package (osm_im" in result.output
    assert f"pass --im-yang DIR or set {YANG_ENV}=DIR" in result.output
    assert "Traceback" not in result.output


def test_pdu_descriptors_match_the_pnf_vnfd(tmp_path: Path) -> None:
    result = CliRunner().invoke(osm_cli, ["pdu", "--inventory", str(REPO / "examples/inventory.yaml"),
                                          "--vim-account", "vim-1", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    pdu = yaml.safe_load((tmp_path / "s1_pdu.yaml").read_text())
    assert pdu["name"] == "s1" and pdu["vim_accounts"] == ["vim-1"]
    assert [i["name"] for i in pdu["interfaces"]] == ["mgmt", "port1", "port2", "port3", "port4"]
    assert pdu["interfaces"][0] == {"name": "mgmt", "mgmt": True, "ip-address": "127.0.0.1", "type": "overlay"}
    vnfd = yaml.safe_load((REPO / "vnfd/tofino-s1/tofino-s1_vnfd.yaml").read_text())["vnfd"]
    assert pdu["type"] == vnfd["vdu"][0]["pdu-type"]
    wanted = {r["name"] for c in vnfd["vdu"][0]["int-cpd"] for r in c["virtual-network-interface-requirement"]}
    assert wanted <= {i["name"] for i in pdu["interfaces"]}


def test_pdu_for_unknown_switch_is_refused() -> None:
    result = CliRunner().invoke(osm_cli, ["pdu", "--inventory", str(REPO / "examples/inventory.yaml"),
                                          "--switch", "s9"])
    assert result.exit_code == 1
    assert "no switch named 's9' in the inventory (switches: s1)" in result.output
