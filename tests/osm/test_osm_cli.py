"""The click groups the lead wires in as `srchain package …` and `srchain osm …`."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner
from osmlib import BROKEN, NS_CONFIG, REPO

from srchain.osm.cli import osm_cli, package_cli


def test_validate_build_validate_round_trip(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(package_cli, ["validate", "--params", str(NS_CONFIG),
                                     "--inventory", str(REPO / "examples/inventory.yaml")])
    assert ok.exit_code == 0, ok.output
    assert ok.output.strip() == "OK: 7 item(s) valid"
    built = runner.invoke(package_cli, ["build", "--out", str(tmp_path)])
    assert built.exit_code == 0, built.output
    assert len(list(tmp_path.glob("*.tar.gz"))) == 7
    again = runner.invoke(package_cli, ["validate", str(tmp_path), "--params", str(NS_CONFIG)])
    assert again.exit_code == 0, again.output


def test_validate_reports_broken_descriptor_and_fails() -> None:
    result = CliRunner().invoke(package_cli, ["validate", str(BROKEN / "charm-action")])
    assert result.exit_code == 1
    assert "[charm.action] 'add-sids' is not an action of charm 'srchain-sr-proxy'" in result.output


def test_missing_yang_directory_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(package_cli, ["validate", "--im-yang", str(tmp_path)])
    assert result.exit_code == 1
    assert f"{tmp_path} is not an OSM IM YANG directory" in result.output


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
