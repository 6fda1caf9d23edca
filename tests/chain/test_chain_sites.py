"""Chains across sites (docs/multisite.md): placement, WAN crossing rows, MTU accounting, SIDs across sites."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chainlib import EXAMPLES, INVENTORY, REFERENCE, ops, plan_file, sid_of, write_variant

from srchain.model import SpecError, load_chain
from srchain.plan import Plan, PlanError, build_plan
from srchain.plan import tables as T
from srchain.plan import wan as W
from srchain.plan.model import Entry
from srchain.sidstore import SidStore

GOLDEN = Path(__file__).parent / "golden" / "two-site.plan.json"
TWO_SITE, TWO_SITE_INV = EXAMPLES / "two-site.yaml", EXAMPLES / "inventory-two-site.yaml"
THREE_SITE_INV = EXAMPLES / "inventory-three-site.yaml"


def rows(plan: Plan, switch: str, table: str, role: str | None = None) -> dict[str, Entry]:
    """`role` tells a wan_encap row from a sid_forward row: both are in SwitchIngress.sr.sid_forward (plan/wan.py)."""
    return {json.dumps(e.key, sort_keys=True): e for e in plan.entries_of("switch", switch)
            if e.table == table and role in (None, e.role)}


def crossings(plan: Plan) -> list[tuple[str, int, str, str]]:
    assert plan.sites is not None
    out = plan.sites["crossings"]
    assert isinstance(out, list)
    return [(c["link"], c["label"], c["egress"]["switch"], c["ingress"]["switch"]) for c in out]


def test_two_site_plan_is_exactly_the_reviewed_one(tmp_path: Path) -> None:
    assert plan_file(TWO_SITE, tmp_path, TWO_SITE_INV).to_json() == json.loads(GOLDEN.read_text())


def test_single_site_plans_have_no_sites_block(tmp_path: Path) -> None:
    """An inventory without `sites` plans as before (the golden plans in test_chain_plan.py, byte for byte)."""
    doc = plan_file(REFERENCE, tmp_path, INVENTORY).to_json()
    assert "sites" not in doc
    assert not any(e["table"] == W.WAN_DECAP or e["role"] in ("wan_encap", "wan_decap")
                   for t in doc["targets"] for e in t["entries"])


def test_two_sites_placement_and_border_rows(tmp_path: Path) -> None:
    plan = plan_file(TWO_SITE, tmp_path, TWO_SITE_INV)
    ff, fmt, agg, prio = (sid_of(plan, n) for n in ("features", "formatter", "aggregator", "priority"))
    assert plan.sites is not None
    where = {(s["segment"], s["instance"]): (s["site"], s["vim_account"]) for s in plan.sites["segments"]}
    assert where[("features", "features")] == where[("priority", "priority")] == ("site-a", "vim-a")
    assert {where[k] for k in where if k[0] in ("formatter", "classifier", "aggregator")} == {("site-b", "vim-b")}
    # the report path leaves site-a at a2 with the formatter's SID on top, comes back at b1 with priority's
    assert crossings(plan) == [("ab", fmt, "a2", "b1"), ("ab", prio, "b1", "a2")]
    enc = rows(plan, "a2", W.WAN_ENCAP, "wan_encap")[json.dumps({"label": fmt})]
    assert enc.action == "SwitchIngress.sr.encap_mpls_in_udp" and enc.role == "wan_encap" and enc.version == 1
    assert enc.params == {"port": 9, "src_mac": "02:00:00:00:02:09", "dst_mac": "02:00:00:00:0b:09",
                          "src_addr": "198.51.100.1", "dst_addr": "198.51.100.2", "ttl": 64,
                          "udp_dst_port": 6635, "udp_src_min": 49152}
    # encapsulated instead of forwarded: no sid_forward for a crossing label at its border
    assert json.dumps({"label": fmt}) not in rows(plan, "a2", T.SID_FORWARD, "sid_forward")
    assert json.dumps({"label": prio}) not in rows(plan, "b1", T.SID_FORWARD, "sid_forward")
    dec = rows(plan, "b1", W.WAN_DECAP)
    assert list(dec) == [json.dumps({"dst_addr": "198.51.100.2", "src_addr": "198.51.100.1"})]
    assert next(iter(dec.values())).version is None  # infrastructure: shared by every chain over the link
    # inside site-b the VNF SIDs go to the proxy; back in site-a, a2 forwards priority's SID to a1, which pops it
    assert {e.params["port"] for e in rows(plan, "b1", T.SID_FORWARD, "sid_forward").values()} == {4}
    assert rows(plan, "b1", T.SID_FORWARD)[json.dumps({"label": agg})].params == {"port": 4,
                                                                                 "dst_mac": "02:00:00:00:4b:01"}
    assert rows(plan, "a2", T.SID_FORWARD)[json.dumps({"label": prio})].params["port"] == 8
    assert json.dumps({"label": prio}) in rows(plan, "a1", T.LOCAL_SID_TABLES[0])
    assert json.dumps({"label": ff}) in rows(plan, "a1", T.LOCAL_SID_TABLES[0])
    # plain IPv4 stays in its site: site-b's switch has no routes to site-a's hosts
    assert rows(plan, "b1", T.ROUTES) == {} and len(rows(plan, "a2", T.ROUTES)) == 3
    # report sizes: IPv4 + UDP + the 72-byte record, 4 then 1 labels, MPLS-in-UDP 28
    sizes = [c["bytes"] for c in plan.sites["crossings"]]
    assert sizes == [{"inner": 100, "labels": 16, "overhead": 28, "total": 144, "wan_mtu": 1600},
                     {"inner": 100, "labels": 4, "overhead": 28, "total": 132, "wan_mtu": 1600}]


def three_site_spec(tmp_path: Path, formatter_proxy: str = "pxb") -> Path:
    return write_variant(tmp_path, f"three-{formatter_proxy}", {
        "chain: cloud-gaming-two-site": "chain: cloud-gaming-three-site",
        "  - name: formatter\n    vnf: formatter\n    proxy: pxb": f"  - name: formatter\n    vnf: formatter\n"
                                                                  f"    proxy: {formatter_proxy}",
        "    vnf: [classifier-a, classifier-b]\n    proxy: pxb": "    vnf: [classifier-b]\n    proxy: pxc",
    }, base=TWO_SITE)


def test_three_sites_transit_and_gre(tmp_path: Path) -> None:
    """a -> b (formatter) -> c (classifier, over GRE) -> b (aggregator) -> a (priority); a chain whose first VNF
    is in site-c crosses site-b in transit: b1 strips the UDP tunnel from a2 and encapsulates in GRE to c1."""
    inv_c = THREE_SITE_INV.read_text().replace("      - {vnf: classifier-a, iface: pxb-cla}\n", "").replace(
        "      - {vnf: classifier-b, iface: pxc-clb}\n",
        "      - {vnf: classifier-b, iface: pxc-clb}\n      - {vnf: formatter, iface: pxc-fmt}\n")
    inv_path = tmp_path / "three.yaml"
    inv_path.write_text(inv_c)
    with SidStore(tmp_path / "s") as store:
        plan = build_plan(load_chain(three_site_spec(tmp_path), inv_path), store)
    fmt, clb, agg, prio = (sid_of(plan, "formatter"), sid_of(plan, "classifier", "classifier-b"),
                           sid_of(plan, "aggregator"), sid_of(plan, "priority"))
    assert crossings(plan) == [("ab", fmt, "a2", "b1"), ("ab", prio, "b1", "a2"), ("bc", clb, "b1", "c1"),
                               ("bc", agg, "c1", "b1")]
    gre = rows(plan, "b1", W.WAN_ENCAP, "wan_encap")[json.dumps({"label": clb})]
    assert gre.action == "SwitchIngress.sr.encap_mpls_in_gre" and gre.params["gre_protocol"] == 0x8847
    assert gre.params["src_addr"] == "198.51.100.5" and gre.params["dst_addr"] == "198.51.100.6"
    assert plan.sites is not None
    gre_bytes = next(c["bytes"] for c in plan.sites["crossings"] if c["link"] == "bc")
    assert gre_bytes["overhead"] == 24 and gre_bytes["total"] == 100 + 4 * 3 + 24

    with SidStore(tmp_path / "t") as store:
        transit = build_plan(load_chain(three_site_spec(tmp_path, "pxc"), inv_path), store)
    fmt = sid_of(transit, "formatter")
    assert ("ab", fmt, "a2", "b1") in crossings(transit) and ("bc", fmt, "b1", "c1") in crossings(transit)
    assert set(rows(transit, "b1", W.WAN_DECAP)) == {json.dumps({"dst_addr": "198.51.100.2",
                                                                 "src_addr": "198.51.100.1"}),
                                                     json.dumps({"dst_addr": "198.51.100.5",
                                                                 "src_addr": "198.51.100.6"})}


def remote_data_chain(tmp_path: Path, wan_mtu: int, site_mtu: int = 1500, encapsulation: str = "mpls-in-udp"
                      ) -> tuple[Path, Path]:
    inv = (EXAMPLES / "invalid" / "support" / "two-site-mtu-1500-inventory.yaml").read_text()
    inv = inv.replace("mtu: 1500", f"mtu: {wan_mtu}").replace("encapsulation: mpls-in-udp",
                                                              f"encapsulation: {encapsulation}")
    inv = inv.replace("    addresses: [10.0.0.0/16]\n", f"    addresses: [10.0.0.0/16]\n    mtu: {site_mtu}\n")
    inv_path = tmp_path / "inv.yaml"
    inv_path.write_text(inv)
    spec = EXAMPLES / "invalid" / "plan-wan-mtu.yaml"
    return spec, inv_path


@pytest.mark.parametrize(("encapsulation", "overhead"), [("mpls-in-udp", 28), ("mpls-in-gre", 24)])
def test_wan_mtu_boundary(tmp_path: Path, encapsulation: str, overhead: int) -> None:
    """The data path crosses with 2 labels: 1500 + 8 + overhead fits a WAN of exactly that MTU, not one less."""
    need = 1500 + 8 + overhead
    spec, inv = remote_data_chain(tmp_path, need, encapsulation=encapsulation)
    with SidStore(tmp_path / "ok") as store:
        plan = build_plan(load_chain(spec, inv), store)
    assert plan.sites is not None and plan.sites["crossings"][0]["bytes"]["total"] == need
    spec, inv = remote_data_chain(tmp_path, need - 1, encapsulation=encapsulation)
    with SidStore(tmp_path / "refused") as store:
        with pytest.raises(PlanError) as info:
            build_plan(load_chain(spec, inv), store)
        assert store.sids() == []
    lines = inv.read_text().splitlines()
    line = lines.index(f"    mtu: {need - 1}", lines.index("wan:")) + 1
    assert f"{inv}:{line}: wan[0].mtu: chain 'mitigate-remote'" in str(info.value)
    assert f"= {need} bytes, more than the link's MTU {need - 1}" in str(info.value)
    # a site whose hosts send smaller packets (sites[].mtu) fits the same WAN
    spec, inv = remote_data_chain(tmp_path, need - 1, site_mtu=1400, encapsulation=encapsulation)
    with SidStore(tmp_path / "small") as store:
        assert build_plan(load_chain(spec, inv), store).sites is not None


@pytest.mark.parametrize("px2_site", ["here", "there"])
def test_srv6_chain_across_sites_is_refused_by_name(tmp_path: Path, px2_site: str) -> None:
    """examples/srv6-services.yaml uses px1 and px2: in one site it plans as before, across two it is refused."""
    path = tmp_path / "inv.yaml"
    path.write_text(f"sites:\n  - {{name: here, vim_account: v1, srv6_nodes: [head, tail], proxies: [px1"
                    f"{', px2' if px2_site == 'here' else ''}]}}\n"
                    f"  - {{name: there, vim_account: v2, proxies: [{'px2' if px2_site == 'there' else ''}]}}\n"
                    + (EXAMPLES / "inventory-srv6.yaml").read_text())
    model = load_chain(EXAMPLES / "srv6-services.yaml", path)
    with SidStore(tmp_path) as store:
        if px2_site == "here":
            single = plan_file(EXAMPLES / "srv6-services.yaml", tmp_path / "single", EXAMPLES / "inventory-srv6.yaml")
            assert build_plan(model, store).to_json() == single.to_json()
        else:
            with pytest.raises(PlanError, match=r"^chain 'srv6-services': an srv6 chain across sites is not "
                               r"planned yet \(head in here, px1 in here, px2 in there, tail in here\)"):
                build_plan(model, store)
            assert store.sids() == []


def test_moving_a_segment_to_another_site_is_make_before_break(tmp_path: Path) -> None:
    """The SR block is global: a segment moved from site-b to site-c gets a new SID (its context names the
    proxy), the old SID keeps its rows until cleanup, and only the flip redirects new reports."""
    inv = THREE_SITE_INV.read_text().replace(
        "      - {vnf: classifier-b, iface: pxc-clb}\n",
        "      - {vnf: classifier-b, iface: pxc-clb}\n      - {vnf: aggregator, iface: pxc-agg}\n")
    inv_path = tmp_path / "three.yaml"
    inv_path.write_text(inv)
    spec_b = three_site_spec(tmp_path)
    spec_c = write_variant(tmp_path, "moved", {"    vnf: aggregator\n    proxy: pxb": "    vnf: aggregator\n"
                                                                                  "    proxy: pxc"}, base=spec_b)
    with SidStore(tmp_path / "s") as store:
        v1 = build_plan(load_chain(spec_b, inv_path), store)
        v2 = build_plan(load_chain(spec_c, inv_path), store)
    assert v2.version == 2 and sid_of(v2, "aggregator") != sid_of(v1, "aggregator")
    assert sid_of(v2, "priority") == sid_of(v1, "priority")  # unchanged context, same SID in every site
    steps = ops(v2, v1.entries)
    phases = [p for p, *_ in steps]
    assert phases == sorted(phases, key=["install", "flip", "cleanup"].index)
    old_agg = json.dumps({"label": sid_of(v1, "aggregator")})
    assert ("cleanup", "delete", "pxb", T.PROXY_SID) in steps and ("install", "add", "pxc", T.PROXY_SID) in steps
    assert ("install", "add", "c1", W.WAN_ENCAP) in steps  # the moved SID's way back, before the flip
    assert any(e.table == W.WAN_ENCAP and e.role == "wan_encap" and json.dumps(e.key) == old_agg for e in v1.entries)


def test_site_errors_come_together(tmp_path: Path) -> None:
    inv = TWO_SITE_INV.read_text().replace("switches: [b1]", "switches: [b1, a1, zz]")
    path = tmp_path / "inv.yaml"
    path.write_text(inv)
    with pytest.raises(SpecError) as info:
        load_chain(TWO_SITE, path)
    text = str(info.value)
    assert f"{path}:" in text and "unknown switch 'zz'" in text and "switch 'a1' is already in site 'site-a'" in text


def test_report_emitted_on_a_border_switch_leaves_by_the_wan_port(tmp_path: Path) -> None:
    """flow-features on a2 (the border): the report copy's PRE group and mirror session are on the WAN port, its
    Ethernet addresses those of the WAN link, and the top label's wan_encap row is on a2 (the data plane is to
    encapsulate the report copy on egress: docs/multisite.md)."""
    spec = write_variant(tmp_path, "ff-border", {"  - name: features\n    switch: a1": "  - name: features\n"
                                                                                   "    switch: a2"}, base=TWO_SITE)
    plan = plan_file(spec, tmp_path / "s", TWO_SITE_INV)
    ff, fmt = sid_of(plan, "features"), sid_of(plan, "formatter")
    node = rows(plan, "a2", T.PRE_NODE)[json.dumps({"$MULTICAST_NODE_ID": T.REPORT_GROUP_BASE + 9})]
    assert node.params["$DEV_PORT"] == [9]
    encap = rows(plan, "a2", T.REPORT_ENCAP)[json.dumps({"lb_bucket": {"mask": 1, "value": 0}, "sid": ff},
                                                        sort_keys=True)]
    assert (encap.params["src_mac"], encap.params["dst_mac"]) == ("02:00:00:00:02:09", "02:00:00:00:0b:09")
    assert json.dumps({"label": fmt}) in rows(plan, "a2", W.WAN_ENCAP, "wan_encap")
    assert ("ab", fmt, "a2", "b1") in crossings(plan)


def test_cli_plan_shows_sites_and_crossings_only_for_multi_site(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    def plan(spec: Path, inv: Path) -> str:
        res = subprocess.run([sys.executable, "-m", "srchain.cli", "chain", "plan", str(spec), "-i", str(inv),
                              "--state-dir", str(tmp_path / spec.stem)], capture_output=True, text=True,
                             env={**os.environ, "COLUMNS": "200"})
        assert res.returncode == 0, res.stderr
        return res.stdout

    multi = plan(TWO_SITE, TWO_SITE_INV)
    assert "site (VIM account)" in multi and "site-b (vim-b)" in multi
    assert "WAN crossings" in multi and "100 + 16 + 28 = 144 / 1600" in multi
    single = plan(REFERENCE, INVENTORY)
    assert "WAN crossings" not in single and "site (VIM account)" not in single
