"""Programs written in the style of the SDE's public TNA examples (common/headers.p4 + util.p4, sub-parser,
BypassEgress, Empty egress blocks, pair registers with initial values) load and run unchanged."""

from __future__ import annotations

from emu_helpers import P4_DIR
from scapy.layers.inet import IP
from scapy.layers.l2 import Dot1Q, Ether

from srchain_emu.bfrt_schema import bfrt_info
from srchain_emu.interp.pipeline import Pipeline

SDE = P4_DIR / "sde_style"


def test_exact_match_with_vlan_validity_key_and_bypass_egress():
    p = Pipeline.from_file(SDE / "exact" / "exact_vlan.p4")
    fwd = p.table("SwitchIngress.forward")
    fwd.insert([1, 10, 0x222222222222], "SwitchIngress.hit", {"port": 3})
    fwd.insert([0, 0, 0x222222222222], "SwitchIngress.hit", {"port": 4})
    tagged = (Ether(dst="22:22:22:22:22:22") / Dot1Q(vlan=10) / IP()).build()
    untagged = (Ether(dst="22:22:22:22:22:22") / IP()).build()
    assert [(o.port, o.frame) for o in p.process(0, tagged)] == [(3, tagged)]
    assert [(o.port, o.frame) for o in p.process(0, untagged)] == [(4, untagged)]
    assert p.process(0, (Ether(dst="22:22:22:22:22:22") / Dot1Q(vlan=11) / IP()).build()) == []
    assert p.stats["drop_ctl_ingress"] == 1
    ipv6 = Ether(dst="22:22:22:22:22:22", src="00:00:00:00:00:01", type=0x86DD) / (b"\x00" * 40)
    assert p.process(0, ipv6.build()) == []
    assert p.stats["drop_parser_reject"] == 1
    tables = {t["name"]: t for t in bfrt_info(p)["tables"]}
    keys = [k["name"] for k in tables["pipe.SwitchIngress.forward"]["key"]]
    assert keys == ["hdr.vlan_tag.$valid", "hdr.vlan_tag.vid", "hdr.ethernet.dst_addr"]
    assert tables["pipe.SwitchIngress.bypass_egress.bypass_egress"]["key"] == []


def test_pair_register_with_initial_value():
    p = Pipeline.from_file(SDE / "register" / "pair_register.p4")
    p.table("reg_match").insert([0x222222222222], "SwitchIngress.register_action", {"idx": 9})
    frame = (Ether(dst="22:22:22:22:22:22", src="00:00:00:00:00:00") / IP()).build()
    outs = [p.process(5, frame)[0] for _ in range(3)]
    assert [o.port for o in outs] == [5, 5, 5]  # back out of the ingress port
    assert [int.from_bytes(o.frame[8:12], "big") for o in outs] == [7, 107, 207]
    reg = p.register("SwitchIngress.test_reg")
    assert reg.read(9) == (8, 307) and reg.read(10) == (5, 7)
    data = next(t for t in bfrt_info(p)["tables"] if t["table_type"] == "Register")["data"]
    assert [d["singleton"]["name"] for d in data] == ["SwitchIngress.test_reg.first", "SwitchIngress.test_reg.second"]
