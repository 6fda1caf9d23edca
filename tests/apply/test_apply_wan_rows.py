"""A multi-site plan's border rows (docs/multisite.md) apply into emulated switches running the SR node program's
profile `wan` (p4/control/wan.p4): the two-site plan's a2 and b1 rows (sid_forward with its wan_encap rows,
wan.decap, routes) are written over BF Runtime, read back as planned, and the applied switches carry a chain's
packet across the link: a2 encapsulates the formatter's label in MPLS-in-UDP, b1 decapsulates it and forwards the
label to its proxy. A program without the WAN tables (`full`) refuses them by name before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest
from apply_helpers import (
    BORDERS,
    WAN_PROFILE,
    Switch,
    bundle,
    drivers_for,
    fwd,
    live_forward,
    node_bundle,
    only,
    plan_of,
    switch_factory,
    two_site_plan,
)
from scapy.contrib.mpls import MPLS
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from srchain.apply import AppliedStore, ApplyError, Controller, Drivers, Options
from srchain.bfrt.client import BfrtClient
from srchain.plan import tables as T
from srchain.plan import wan as W
from srchain.plan.model import Entry
from srchain.targets.loader import Bundle


@pytest.fixture(scope="module")
def wan_bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    return node_bundle(tmp_path_factory.mktemp("wan") / "node", WAN_PROFILE)


def live(address: str, table: str) -> dict[str, tuple[str, dict[str, object]]]:
    """Every entry of `table`: key -> (action, data), as the switch reads it back."""
    c = BfrtClient.connect(address, client_id=7, timeout=5)
    try:
        c.bind("srchain_node")
        return {repr(sorted(e.key.items())): (e.action, dict(e.data)) for e in c.entries(table)}
    finally:
        c.close()


def test_two_site_border_rows_apply_and_carry_a_packet_across(tmp_path: Path, wan_bundle: Bundle) -> None:
    plan = two_site_plan(tmp_path / "sids")
    border = only(plan, BORDERS)
    by_role = {r: [e for e in border.entries if e.role == r] for r in ("wan_encap", "wan_decap")}
    assert {e.target for e in by_role["wan_encap"]} == {e.target for e in by_role["wan_decap"]} == set(BORDERS)
    switches = {name: Switch() for name in BORDERS}
    drivers = drivers_for(switches, wan_bundle)
    try:
        result = Controller(drivers, AppliedStore(tmp_path / "state"), Options(drain_timeout=1.0)).apply(border)
        assert result is not None
        for name, sw in switches.items():
            for table in (T.SID_FORWARD, W.WAN_DECAP, T.ROUTES):
                planned = [e for e in border.entries_of("switch", name) if e.table == table]
                assert len(live(sw.address, table)) == len(planned), (name, table)
            decap = live(sw.address, W.WAN_DECAP)
            assert [a for a, _ in decap.values()] == ["SwitchIngress.wan.decap_mpls_in_udp"]
        enc = next(e for e in by_role["wan_encap"] if e.target == "a2")
        row = live(switches["a2"].address, T.SID_FORWARD)[repr(sorted({"label": enc.key["label"]}.items()))]
        assert row[0] == "SwitchIngress.sr.encap_mpls_in_udp"
        assert row[1]["udp_dst_port"] == 6635 and row[1]["udp_src_min"] == 49152 and row[1]["ttl"] == 64

        # a packet of the chain: a1 sent the formatter's label (and priority's below it) toward a2
        label, below = enc.key["label"], 16005
        inner = IP(src="10.0.1.10", dst="10.0.0.20") / UDP(sport=4000, dport=6000) / Raw(b"r" * 40)
        sent = (Ether(src="02:00:00:00:01:08", dst="02:00:00:00:02:08") / MPLS(label=label, ttl=63, s=0)
                / MPLS(label=below, ttl=64, s=1) / inner)
        a2 = switches["a2"].servicer.dev.programs["srchain_node"].pipeline
        (out,) = a2.process(8, bytes(sent))
        assert out.port == 9
        wire = Ether(out.frame)
        assert (wire[Ether].src, wire[Ether].dst) == ("02:00:00:00:02:09", "02:00:00:00:0b:09")
        assert (wire[IP].src, wire[IP].dst, wire[IP].ttl, wire[UDP].dport) == ("198.51.100.1", "198.51.100.2", 64,
                                                                              6635)
        assert wire[UDP].sport >= 49152 and wire[UDP].chksum == 0
        assert bytes(wire[UDP].payload) == bytes(MPLS(label=label, ttl=62, s=0) / MPLS(label=below, ttl=64, s=1)
                                                 / inner)
        b1 = switches["b1"].servicer.dev.programs["srchain_node"].pipeline
        (there,) = b1.process(9, out.frame)
        fwd_row = next(e for e in border.entries_of("switch", "b1") if e.table == T.SID_FORWARD
                       and e.role == "sid_forward" and e.key["label"] == label)
        assert there.port == fwd_row.params["port"]
        got = Ether(there.frame)
        assert got[Ether].dst == fwd_row.params["dst_mac"] and got[Ether].type == 0x8847
        assert bytes(got[Ether].payload) == bytes(MPLS(label=label, ttl=61, s=0) / MPLS(label=below, ttl=64, s=1)
                                                  / inner)
    finally:
        drivers.close()
        for sw in switches.values():
            sw.stop()


def test_wan_rows_are_refused_by_name_by_a_program_without_them(tmp_path: Path) -> None:
    """`full` has sid_forward but neither the encap action nor wan.decap: the apply reads every planned table
    first and refuses before writing anything."""
    b = node_bundle(tmp_path / "full", {})
    border = only(two_site_plan(tmp_path / "sids"), ("b1",))
    sw = Switch()
    drivers = drivers_for({"b1": sw}, b)
    try:
        ctl = Controller(drivers, AppliedStore(tmp_path / "state"), Options(drain_timeout=1.0))
        with pytest.raises(ApplyError, match=rf"table {W.WAN_DECAP}") as err:
            ctl.apply(border)
        assert err.value.unchanged and str(err.value).endswith("nothing was changed")
        assert live(sw.address, T.SID_FORWARD) == {}
    finally:
        drivers.close()
        sw.stop()


def test_wan_encap_row_is_refused_by_a_program_without_the_table(tmp_path: Path) -> None:
    sw = Switch()
    drivers = Drivers(switch_factory(sw, bundle("exact_forward", tmp_path / "out")))
    try:
        encap = Entry("switch", "s1", W.WAN_ENCAP, {"label": 16001}, W.ENCAP_ACTION["mpls-in-udp"],
                      {"port": 9, "dst_addr": "198.51.100.2"}, "wan_encap", 1)
        ctl = Controller(drivers, AppliedStore(tmp_path / "state"), Options(drain_timeout=1.0))
        with pytest.raises(ApplyError, match=rf"table {W.WAN_ENCAP}") as err:
            ctl.apply(plan_of([fwd(i, 1) for i in range(1, 5)] + [encap]))
        assert err.value.unchanged and str(err.value).endswith("nothing was changed")
        assert live_forward(sw.address) == {}
    finally:
        drivers.close()
        sw.stop()
