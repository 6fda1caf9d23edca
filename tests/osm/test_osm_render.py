"""NSD rendering: one chain spec + inventory -> NSD, PNF VNFDs and ns-create parameters that pass OSM's
IM validation and every referential rule; the committed reference NS is exactly the rendering."""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from osmlib import REPO, SHARED

from srchain.osm.cli import osm_cli, package_cli
from srchain.osm.im import ImValidator
from srchain.osm.pdu import load_switches
from srchain.osm.render import RenderError, render_files
from srchain.osm.validate import validate_paths

EXAMPLES = REPO / "examples"
# The generic VNF VNFDs (the PNF VNFDs are rendered per switch, so they come from the rendering).
VNF_VNFDS = [p for p in sorted((REPO / "vnfd").iterdir()) if p.is_dir() and not p.name.startswith("tofino-")]


def test_committed_reference_ns_is_the_rendering() -> None:
    rendered = render_files(EXAMPLES / "cloud-gaming.yaml", EXAMPLES / "inventory.yaml")
    assert rendered.stale(REPO) == []
    result = CliRunner().invoke(package_cli, ["render-nsd", str(EXAMPLES / "cloud-gaming.yaml"), "--inventory",
                                              str(EXAMPLES / "inventory.yaml"), "--check"])
    assert result.exit_code == 0, result.output


def _render_to(tmp: Path, spec: str, inventory: str) -> Path:
    result = CliRunner().invoke(package_cli, ["render-nsd", str(EXAMPLES / spec), "--inventory",
                                              str(EXAMPLES / inventory), "-o", str(tmp)])
    assert result.exit_code == 0, result.output
    return tmp


@pytest.mark.parametrize(("spec", "inventory", "chain"), [
    ("cloud-gaming.yaml", "inventory.yaml", "cloud-gaming"),
    ("two-switch.yaml", "inventory-two-switch.yaml", "gaming-two-switch"),
    ("cloud-gaming-mitigation.yaml", "inventory.yaml", "cloud-gaming"),
    ("cloud-gaming.yaml", "inventory-osm.yaml", "cloud-gaming"),
    ("cloud-gaming-mitigation.yaml", "inventory-osm.yaml", "cloud-gaming"),
])
def test_rendered_ns_passes_im_and_every_rule(tmp_path: Path, im: ImValidator, spec: str, inventory: str,
                                              chain: str) -> None:
    out = _render_to(tmp_path, spec, inventory)
    params = out / "nsd" / f"{chain}.ns-config.yaml"
    report = validate_paths([out / "nsd", out / "vnfd", *VNF_VNFDS], im, params_path=params,
                            switches=load_switches(EXAMPLES / inventory))
    assert [str(f) for f in report.findings] == []
    kinds = sorted(d.kind for d in report.descriptors)
    assert kinds.count("nsd") == 1


def _vnffgd(rendered_nsd: str) -> dict:
    return yaml.safe_load(rendered_nsd)["nsd"]["nsd"][0]["vnffgd"][0]


def test_vnffgd_is_rendered_per_osm_release(tmp_path: Path, im: ImValidator) -> None:
    """14: the vnffgd documents the chain; 15 and later: no vnffgd, since RO from Release 15 on deploys one as SFC at
    the VIM (NG-RO process_vnffgd_descriptor) and fails on a documentation-only one, and LCM refuses to scale an NS
    with one. Otherwise the same NSD, valid for the shared (Release 14/15) IM and for the 2025 NBI's vnffgd check."""
    old = render_files(EXAMPLES / "cloud-gaming.yaml", EXAMPLES / "inventory.yaml")
    fg_old = _vnffgd(old.nsd_text)
    assert [n["id"] for n in fg_old["nfpd"]] == ["data", "reports"]
    assert "nfp-position-element" not in fg_old  # the Release 14 IM has no such key
    nsd_old = yaml.safe_load(old.nsd_text)["nsd"]["nsd"][0]
    assert im.errors(yaml.safe_load(old.nsd_text)) == []
    for release in (15, 16, 18):
        new = render_files(EXAMPLES / "cloud-gaming.yaml", EXAMPLES / "inventory.yaml", osm_release=release)
        nsd_new = yaml.safe_load(new.nsd_text)["nsd"]["nsd"][0]
        assert "vnffgd" not in nsd_new
        assert nsd_new == {k: v for k, v in nsd_old.items() if k != "vnffgd"}  # nothing else differs
        assert im.errors(yaml.safe_load(new.nsd_text)) == []
        assert new.params == old.params and new.pnf_texts == old.pnf_texts


def test_render_nsd_osm_release_option(tmp_path: Path) -> None:
    args = ["render-nsd", str(EXAMPLES / "cloud-gaming.yaml"), "--inventory", str(EXAMPLES / "inventory.yaml")]
    result = CliRunner().invoke(package_cli, [*args, "-o", str(tmp_path), "--osm-release", "16"])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "nsd/cloud-gaming/cloud-gaming_nsd.yaml").read_text()
    assert "# For OSM Release 15 and later (render-nsd --osm-release 16): no vnffgd" in text
    assert "vnffgd:" not in text
    stale = CliRunner().invoke(package_cli, [*args, "-o", str(tmp_path), "--check"])  # default: 14
    assert stale.exit_code == 1 and "cloud-gaming_nsd.yaml: differs from the rendering" in stale.output
    assert CliRunner().invoke(package_cli, [*args, "--osm-release", "13"]).exit_code == 2


def test_two_switch_profiles_links_and_chain_order(tmp_path: Path) -> None:
    out = _render_to(tmp_path, "two-switch.yaml", "inventory-two-switch.yaml")
    nsd = yaml.safe_load((out / "nsd/gaming-two-switch/gaming-two-switch_nsd.yaml").read_text())["nsd"]["nsd"][0]
    assert nsd["id"] == "srchain-gaming-two-switch"
    profiles = {p["id"]: p["vnfd-id"] for p in nsd["df"][0]["vnf-profile"]}
    assert profiles == {"s1": "srchain-tofino-s1", "s2": "srchain-tofino-s2", "px1": "srchain-sr-proxy",
                        "formatter": "srchain-formatter", "classifier-a": "srchain-classifier",
                        "aggregator": "srchain-aggregator"}
    assert {v["id"] for v in nsd["virtual-link-desc"]} == {
        "mgmtnet", "host-gaming-server", "host-gaming-client", "s1p8-s2p8", "px1-sr", "px1-vnfs", "px1-vnfs-ret"}
    fg = nsd["vnffgd"][0]
    assert fg["vnf-profile-id"] == ["s1", "px1", "formatter", "classifier-a", "aggregator", "s2"]
    reports = next(p for p in fg["nfpd"] if p["id"] == "reports")
    order = [pos["cp-profile-id"][0]["id"] for pos in reports["position-desc-id"]]
    assert order == ["formatter", "classifier", "aggregator", "priority"]
    pnf = yaml.safe_load((out / "vnfd/tofino-s2/tofino-s2_vnfd.yaml").read_text())["vnfd"]
    assert pnf["vdu"][0]["pdu-type"] == "srchain-tofino-s2"
    assert [c["id"] for c in pnf["ext-cpd"]] == ["mgmt-ext", "port4-ext", "port8-ext"]
    params = yaml.safe_load((out / "nsd/gaming-two-switch.ns-config.yaml").read_text())
    by_member = {v["member-vnf-index"]: v["additionalParams"] for v in params["additionalParamsForVnf"]}
    assert by_member["s2"] == {"bfrt_port": "50053", "p4_program": "srchain_node", "device_id": "0",
                               "p4_program_digest": "from-package"}
    assert by_member["px1"]["sr_next_hop_mac"] == "02:00:00:00:02:04"
    assert params["additionalParamsForNs"]["chain_spec"] == (EXAMPLES / "two-switch.yaml").read_text()


def test_pdu_types_match_the_rendered_pnf_vnfds(tmp_path: Path) -> None:
    out = _render_to(tmp_path / "r", "two-switch.yaml", "inventory-two-switch.yaml")
    result = CliRunner().invoke(osm_cli, ["pdu", "--inventory", str(EXAMPLES / "inventory-two-switch.yaml"),
                                          "--vim-account", "vim-1", "--out", str(tmp_path / "pdu")])
    assert result.exit_code == 0, result.output
    for sw in ("s1", "s2"):
        pdu = yaml.safe_load((tmp_path / "pdu" / f"{sw}_pdu.yaml").read_text())
        vdu = yaml.safe_load((out / f"vnfd/tofino-{sw}/tofino-{sw}_vnfd.yaml").read_text())["vnfd"]["vdu"][0]
        assert pdu["type"] == vdu["pdu-type"] == f"srchain-tofino-{sw}"
        wanted = {r["name"] for c in vdu["int-cpd"] for r in c["virtual-network-interface-requirement"]}
        assert wanted == {i["name"] for i in pdu["interfaces"]}


def test_check_reports_a_stale_file_and_writes_nothing(tmp_path: Path) -> None:
    out = _render_to(tmp_path, "cloud-gaming.yaml", "inventory.yaml")
    nsd = out / "nsd/cloud-gaming/cloud-gaming_nsd.yaml"
    nsd.write_text(nsd.read_text().replace("px1-vnfs", "px1-vnf"))
    edited = nsd.read_text()
    result = CliRunner().invoke(package_cli, ["render-nsd", str(EXAMPLES / "cloud-gaming.yaml"), "--inventory",
                                              str(EXAMPLES / "inventory.yaml"), "-o", str(out), "--check"])
    assert result.exit_code == 1
    assert f"{nsd}: differs from the rendering" in result.output
    assert nsd.read_text() == edited


def _copy_examples(tmp: Path, inventory_edit: tuple[str, str]) -> tuple[Path, Path]:
    spec = shutil.copy(EXAMPLES / "cloud-gaming.yaml", tmp / "spec.yaml")
    inv = tmp / "inv.yaml"
    inv.write_text((EXAMPLES / "inventory.yaml").read_text().replace(*inventory_edit))
    return Path(spec), inv


def test_vnf_kind_without_vnfd_is_refused(tmp_path: Path) -> None:
    spec, inv = _copy_examples(tmp_path, ("{name: aggregator, kind: aggregator}", "{name: aggregator, kind: dpi}"))
    with pytest.raises(RenderError) as e:
        render_files(spec, inv)
    assert str(e.value).startswith(f"{inv}: VNF 'aggregator' has kind 'dpi', which no srchain VNFD runs")


def test_a_vnf_attached_to_a_chain_proxy_stands_by_in_the_ns_for_day_2() -> None:
    """OSM adds no VNF to a running NS, so the day-2 `add-segment` of the mitigation needs its VM from ns-create: a
    VNF the inventory attaches to one of the chain's proxies is a member (VM, legs on the proxy's links, px1's day-1
    attach-vnf), in no path of the vnffgd."""
    rendered = render_files(EXAMPLES / "cloud-gaming.yaml", EXAMPLES / "inventory.yaml", osm_release=14)
    nsd = yaml.safe_load(rendered.nsd_text)["nsd"]["nsd"][0]
    profiles = {p["id"]: p for p in nsd["df"][0]["vnf-profile"]}
    assert profiles["mitigation"]["vnfd-id"] == "srchain-mitigation"
    legs = {c["virtual-link-profile-id"]: c["constituent-cpd-id"][0]["constituent-cpd-id"]
            for c in profiles["mitigation"]["virtual-link-connectivity"]}
    assert legs == {"mgmtnet": "mgmt-ext", "px1-vnfs": "data-in-ext", "px1-vnfs-ret": "data-out-ext"}
    positioned = {e["id"] for fg in nsd["vnffgd"] for path in fg["nfpd"] for pos in path["position-desc-id"]
                  for e in pos["cp-profile-id"][0]["constituent-profile-elements"]}
    assert "mitigation" not in positioned and "formatter" in positioned, positioned
    assert "mitigation" not in nsd["vnffgd"][0]["vnf-profile-id"]
    px1 = next(m["additionalParams"] for m in rendered.params["additionalParamsForVnf"]
               if m["member-vnf-index"] == "px1")
    assert json.loads(px1["vnf_attachments"])[-1] == {"vnf": "mitigation", "iface_out": "px1-mit-o",
                                                      "iface_in": "px1-mit-i"}


def test_a_standing_by_vnf_of_a_kind_without_vnfd_is_refused(tmp_path: Path) -> None:
    spec, inv = _copy_examples(tmp_path, ("{name: mitigation, kind: attack-mitigation}",
                                          "{name: mitigation, kind: dpi}"))
    with pytest.raises(RenderError) as e:
        render_files(spec, inv)
    assert str(e.value).startswith(f"{inv}: VNF 'mitigation' (attached to SR proxy px1: in the NS, standing by) has "
                                   "kind 'dpi', which no srchain VNFD runs")


def test_name_clash_between_switch_and_proxy_is_refused(tmp_path: Path) -> None:
    spec, inv = _copy_examples(tmp_path, ("name: px1", "name: s1"))
    spec.write_text(spec.read_text().replace("proxy: px1", "proxy: s1"))
    inv.write_text(inv.read_text().replace("{proxy: px1}", "{proxy: s1}"))
    result = CliRunner().invoke(package_cli, ["render-nsd", str(spec), "--inventory", str(inv),
                                              "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "'s1' names both a srchain-tofino-s1 and a srchain-sr-proxy" in result.output
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_mitigation_has_two_data_legs_on_the_proxy_links(tmp_path: Path) -> None:
    """The mitigation service bridges in_iface -> out_iface (cloud-init: ens4, ens5): its VNFD declares both
    legs, the NS puts the in leg on the proxy's VNF link and the out leg on the proxy's return link."""
    out = _render_to(tmp_path, "cloud-gaming-mitigation.yaml", "inventory.yaml")
    nsd = yaml.safe_load((out / "nsd/cloud-gaming/cloud-gaming_nsd.yaml").read_text())["nsd"]["nsd"][0]
    conn = {p["id"]: {c["virtual-link-profile-id"]: [x["constituent-cpd-id"] for x in c["constituent-cpd-id"]]
                      for c in p["virtual-link-connectivity"]} for p in nsd["df"][0]["vnf-profile"]}
    assert conn["mitigation"] == {"mgmtnet": ["mgmt-ext"], "px1-vnfs": ["data-in-ext"],
                                  "px1-vnfs-ret": ["data-out-ext"]}
    assert conn["px1"]["px1-vnfs-ret"] == ["vnf-ret-ext"] and conn["formatter"]["px1-vnfs"] == ["data-ext"]
    (data,) = [p for p in nsd["vnffgd"][0]["nfpd"] if p["id"] == "data"]
    elements = [e for pos in data["position-desc-id"] for cp in pos["cp-profile-id"]
                for e in cp["constituent-profile-elements"] if e["id"] == "mitigation"]
    assert elements == [{"id": "mitigation", "cpd-id": "data-in-ext"}]
    vnfd = yaml.safe_load((REPO / "vnfd/mitigation/mitigation_vnfd.yaml").read_text())["vnfd"]
    positions = {c["id"]: c["virtual-network-interface-requirement"][0]["position"] for c in vnfd["vdu"][0]["int-cpd"]}
    assert positions == {"mgmt-int": 1, "data-in-int": 2, "data-out-int": 3}  # ens3, ens4, ens5
    init = yaml.safe_load((REPO / "vnfd/mitigation/cloud_init/mitigation-cloud-init.cfg").read_text())
    (cfg,) = [yaml.safe_load(f["content"]) for f in init["write_files"] if f["path"].endswith("mitigation.yaml")]
    assert (cfg["in_iface"], cfg["out_iface"]) == ("ens4", "ens5")


def test_osm_inventory_names_the_vm_interfaces_and_pins_the_proxy_mgmt_ip(tmp_path: Path) -> None:
    """examples/inventory-osm.yaml: the proxy's interfaces are the ones the sr-proxy VNFD gives its VM, the
    controller reaches it over SSH, and ns-create fixes its management IP to the inventory's ssh.host."""
    out = _render_to(tmp_path, "cloud-gaming-mitigation.yaml", "inventory-osm.yaml")
    params = yaml.safe_load((out / "nsd/cloud-gaming.ns-config.yaml").read_text())
    assert params["vld"] == [{"name": "mgmtnet", "vnfd-connection-point-ref": [
        {"member-vnf-index-ref": "px1", "vnfd-connection-point-ref": "mgmt-ext", "ip-address": "10.0.0.21"}]}]
    px1 = next(v["additionalParams"] for v in params["additionalParamsForVnf"] if v["member-vnf-index"] == "px1")
    assert px1["sr_iface"] == "ens4"
    attachments = {a["vnf"]: a for a in yaml.safe_load(px1["vnf_attachments"])}
    assert attachments["mitigation"] == {"vnf": "mitigation", "iface_out": "ens5", "iface_in": "ens6"}
    assert {a.get("iface") for v, a in attachments.items() if v != "mitigation"} == {"ens5"}
    inv = yaml.safe_load(params["additionalParamsForNs"]["inventory"])
    assert inv["proxies"][0]["ssh"] == {"host": "10.0.0.21", "user": "srchain",
                                        "token_file": "/etc/srchain/proxy.token"}
    # the local testbed's inventory has no SSH proxy: no vld parameter
    local = _render_to(tmp_path / "local", "cloud-gaming.yaml", "inventory.yaml")
    assert "vld" not in yaml.safe_load((local / "nsd/cloud-gaming.ns-config.yaml").read_text())


def test_pnf_data_ports_name_their_vim_networks_on_both_sides(tmp_path: Path) -> None:
    """Issue 17 item 6: every data port of a PDU names the VIM network it is wired to, the NSD's link that the
    PNF's port is on names the same network (so RO attaches the VMs there), and a data port's IP is its own
    link-local address, never the management IP. OSM's own check (osm-im-validate) accepts the rendering."""
    out = _render_to(tmp_path / "r", "two-switch.yaml", "inventory-two-switch.yaml")
    result = CliRunner().invoke(osm_cli, ["pdu", "--inventory", str(EXAMPLES / "inventory-two-switch.yaml"),
                                          "--vim-account", "vim-1", "--out", str(tmp_path / "pdu")])
    assert result.exit_code == 0, result.output
    nsd = yaml.safe_load((out / "nsd/gaming-two-switch/gaming-two-switch_nsd.yaml").read_text())["nsd"]["nsd"][0]
    vim_net = {vl["id"]: vl.get("vim-network-name") for vl in nsd["virtual-link-desc"]}
    on_link = {(p["id"], c["constituent-cpd-id"]): vlc["virtual-link-profile-id"]
               for p in nsd["df"][0]["vnf-profile"] for vlc in p["virtual-link-connectivity"]
               for c in vlc["constituent-cpd-id"]}
    seen = set()
    for sw in ("s1", "s2"):
        pdu = yaml.safe_load((tmp_path / "pdu" / f"{sw}_pdu.yaml").read_text())
        mgmt, *ports = pdu["interfaces"]
        assert mgmt == {"name": "mgmt", "mgmt": True, "ip-address": "127.0.0.1", "type": "overlay"}
        for itf in ports:
            link = on_link[(sw, f"{itf['name']}-ext")]
            assert itf["vim-network-name"] == vim_net[link] == f"srchain-{link}"
            ip = ipaddress.ip_address(itf["ip-address"])
            assert ip.is_link_local and ip != ipaddress.ip_address(mgmt["ip-address"])
            mac = bytes(int(x, 16) for x in itf["mac-address"].split(":"))
            assert ip.packed[8:] == bytes([mac[0] ^ 2, *mac[1:3], 0xFF, 0xFE, *mac[3:]])  # EUI-64 of its MAC
            seen.add(link)
    assert seen == {"px1-sr", "s1p8-s2p8", "host-gaming-server", "host-gaming-client"}
    # links without a switch port stay OSM's to create; the mgmt network is the VIM's management network
    assert vim_net["px1-vnfs"] is None and vim_net["mgmtnet"] == "mgmt"
    run = subprocess.run([sys.executable, str(SHARED / "tools/osm-im-validate"), str(out / "nsd"), str(out / "vnfd"),
                          *map(str, VNF_VNFDS)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert " 0 invalid" in run.stdout


def test_a_multi_site_inventory_is_refused_by_name_not_drawn_as_one_site() -> None:
    from srchain.model import load_chain
    from srchain.osm.pdu import port_link
    from srchain.osm.render import render

    model = load_chain(REPO / "examples" / "two-site.yaml", REPO / "examples" / "inventory-two-site.yaml")
    with pytest.raises(RenderError, match=r"chain 'cloud-gaming-two-site': the NS over a multi-site inventory "
                       r"\(2 sites\) is not rendered yet"):
        render(model)
    a2 = model.inventory.switch("a2")
    assert a2 is not None and [port_link("a2", p) for p in a2.ports] == ["a1p8-a2p8", "wan-ab"]


def test_an_srv6_chain_is_refused_by_name_not_drawn_as_sr_mpls() -> None:
    from srchain.model import load_chain
    from srchain.osm.render import render

    model = load_chain(REPO / "examples" / "srv6-services.yaml", REPO / "examples" / "inventory-srv6.yaml")
    with pytest.raises(RenderError, match=r"chain 'srv6-services': the NS of an srv6 chain is not rendered yet"):
        render(model)
