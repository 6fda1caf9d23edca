"""Issue 17 item 10, "osm CLI only": what docs/osm.md asked an operator to do by hand on a real OSM now travels
in the ns-create parameters `package render-nsd` writes. Host keys: test_osm_day1.py. Here: the 802.1Q
sub-interfaces of the VLAN attachments (the proxy VM's `ens5.<vlan>`, the VNF VM's `ens4.<vlan>`) through the VMs'
cloud-init, and the SR proxy VM's SR-side MAC fixed at instantiation to the inventory's `proxies[].mac`."""

from __future__ import annotations

from typing import Any

import jinja2
import pytest
import yaml
from osmlib import REPO

from srchain.osm.descriptors import collect
from srchain.osm.nsd_checks import check_placeholders
from srchain.osm.render import RenderError, render_files, vlan_netplan

EX = REPO / "examples"


def _lcm_cloud_init(text: str, params: dict[str, Any]) -> dict[str, Any]:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined,  # LCM ns.py NsLcm._parse_cloud_init
                             autoescape=jinja2.select_autoescape(default_for_string=True, default=True))
    return dict(yaml.safe_load(env.from_string(text).render(params)))


@pytest.fixture(scope="module")
def osm_params() -> dict[str, Any]:
    return render_files(EX / "cloud-gaming.yaml", EX / "inventory-osm.yaml").params


def _member(params: dict[str, Any], name: str) -> dict[str, Any]:
    (m,) = [v["additionalParams"] for v in params["additionalParamsForVnf"] if v["member-vnf-index"] == name]
    return dict(m)


def _netplan(vnfd: str, params: dict[str, Any]) -> dict[str, Any]:
    text = (REPO / f"vnfd/{vnfd}/cloud_init/{vnfd}-cloud-init.cfg").read_text()
    doc = _lcm_cloud_init(text, {**params, "ssh_host_key": "k", "ssh_host_key_pub": "p"})
    (f,) = [f for f in doc["write_files"] if f["path"] == "/etc/netplan/60-srchain-vlans.yaml"]
    assert f["permissions"] == "0600" and doc["runcmd"][0] == ["netplan", "apply"]  # before the services start
    return dict(yaml.safe_load(f["content"]))


def test_vlan_sub_interfaces_come_from_the_inventory_through_cloud_init(osm_params: dict[str, Any]) -> None:
    px1 = _netplan("sr-proxy", _member(osm_params, "px1"))
    assert px1 == {"network": {"version": 2, "ethernets": {"ens5": {}}, "vlans": {
        "ens5.101": {"id": 101, "link": "ens5"}, "ens5.102": {"id": 102, "link": "ens5"},
        "ens5.103": {"id": 103, "link": "ens5"}, "ens5.104": {"id": 104, "link": "ens5"}}}}
    for vnfd, member, vlan in [("formatter", "formatter", 101), ("classifier", "classifier-a", 102),
                               ("classifier", "classifier-b", 103), ("aggregator", "aggregator", 104)]:
        assert _netplan(vnfd, _member(osm_params, member)) == {"network": {
            "version": 2, "ethernets": {"ens4": {}}, "vlans": {f"ens4.{vlan}": {"id": vlan, "link": "ens4"}}}}
    # without VLAN attachments (the emulated inventory): an empty netplan, nothing changed on the VM
    plain = render_files(EX / "cloud-gaming.yaml", EX / "inventory.yaml").params
    assert _netplan("sr-proxy", _member(plain, "px1")) == {"network": {"version": 2}}
    with pytest.raises(RenderError) as e:
        vlan_netplan([("ens5", 4095)])
    assert str(e.value) == "VLAN attachment ens5.4095: not an interface name and 802.1Q VLAN ID"
    with pytest.raises(RenderError, match="not an interface name"):
        vlan_netplan([("ens5'\"", 10)])


def test_the_proxy_vm_gets_the_inventory_sr_mac_at_instantiation(osm_params: dict[str, Any]) -> None:
    assert osm_params["vnf"] == [{"member-vnf-index": "px1", "vdu": [{"id": "proxy-vm", "interface": [
        {"name": "sr", "mac-address": "fa:16:3e:00:40:01"}]}]}]  # = inventory-osm.yaml proxies[px1].mac
    vnfd = yaml.safe_load((REPO / "vnfd/sr-proxy/sr-proxy_vnfd.yaml").read_text())["vnfd"]
    (vdu,) = vnfd["vdu"]
    names = {r["name"] for c in vdu["int-cpd"] for r in c["virtual-network-interface-requirement"]}
    assert vdu["id"] == "proxy-vm" and "sr" in names  # what NBI's ns_instantiate_vdu interface names


def test_a_cloud_init_variable_without_a_value_is_reported() -> None:
    descriptors, _ = collect([REPO / "nsd", REPO / "vnfd"])
    (nsd,) = [d for d in descriptors if d.kind == "nsd"]
    vnfds = {d.ident: d for d in descriptors if d.kind == "vnfd"}
    params = yaml.safe_load((REPO / "nsd/cloud-gaming.ns-config.yaml").read_text())
    assert check_placeholders(nsd, vnfds, params, "p.yaml") == []
    for v in params["additionalParamsForVnf"]:
        if v["member-vnf-index"] == "formatter":
            del v["additionalParams"]["vlan_netplan"]
    (f,) = check_placeholders(nsd, vnfds, params, "p.yaml")
    assert (f.rule, f.path) == ("placeholder", "vnfd.vdu[formatter-vm].cloud-init-file")
    assert f.message == ("{{ vlan_netplan }} in the cloud-init has no value for vnf-profile 'formatter' of NSD "
                         "'srchain-cloud-gaming' (LCM stops the instantiation): add it to "
                         "additionalParamsForVnf[member-vnf-index=formatter].additionalParams in p.yaml")
