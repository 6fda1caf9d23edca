"""The testbed's layouts without root: the inventory each one generates is its example inventory's (only the
testbed's endpoints differ; the SRv6 layout's too), and `srchain demo --plan-only --sites 2` plans the two-site
chain and its day-2 insert."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from srchain_demo import topology
from srchain_demo.cli import demo
from srchain_demo.shipped import EXAMPLES
from srchain_demo.testbed import Testbed

# What only the testbed knows: its sockets, token files, compiled bundles, interface names and next hops.
ENDPOINTS = {"grpc", "control", "token_file", "artifacts", "device_id", "program", "interface", "next_hop", "netns"}


def _without_endpoints(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: _without_endpoints(v) for k, v in doc.items() if k not in ENDPOINTS}
    if isinstance(doc, list):
        return [_without_endpoints(v) for v in doc]
    return doc


@pytest.mark.parametrize("layout", [topology.SINGLE_SITE, topology.two_site(), topology.three_site(),
                                    topology.SINGLE_SITE_SRV6], ids=["one-site", "two-site", "three-site", "srv6"])
def test_generated_inventory_is_the_example_inventory(tmp_path: Path, layout: topology.Layout) -> None:
    tb = Testbed(tmp_path / "tb", layout=layout)
    tb.workdir.mkdir(parents=True)
    tb._write_inventory()
    generated = _without_endpoints(yaml.safe_load(tb.inventory.read_text()))
    example = _without_endpoints(yaml.safe_load((EXAMPLES / layout.specs.inventory).read_text()))
    example["vnfs"] = [v for v in example["vnfs"] if v["name"] != "spare"]  # installed, attached nowhere
    assert generated == example


def test_two_site_sockets_and_bundles_per_switch_and_profile(tmp_path: Path) -> None:
    tb = Testbed(tmp_path / "tb", layout=topology.two_site(40))
    assert set(tb.switch_socks) == {"a1", "a2", "b1"} and tb.switch_sock == tb.switch_socks["a1"]
    assert tb.bundles == {"full": tb.workdir / "srchain_node", "wan": tb.workdir / "srchain_node-wan"}
    assert tb.spec("mitigation").name == "two-site-mitigation.yaml"
    assert [w.delay_ms for w in tb.layout.wan] == [40]
    with pytest.raises(Exception, match="layout has no mitigation_first spec"):
        tb.spec("mitigation_first")


def test_plan_only_two_sites_places_the_mitigation_in_site_b(tmp_path: Path) -> None:
    res = CliRunner().invoke(demo, ["--plan-only", "--sites", "2"], terminal_width=200)
    assert res.exit_code == 0, res.output
    assert "cloud-gaming-two-site" in res.output and "2. day 2" in res.output
    mitigation = next(line for line in res.output.splitlines() if line.startswith("│ mitigation"))
    assert "proxy pxb" in mitigation and "site-b" in mitigation, mitigation
