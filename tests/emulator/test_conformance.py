"""The two conformance programs (SDE example style), driven in-process through Pipeline.

(The same programs over veth + PTF + BF Runtime are the next increment; see docs/emulator.md.)
"""

from __future__ import annotations

from emu_helpers import P4_DIR
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from srchain_emu.interp import runtime as R
from srchain_emu.interp.pipeline import Pipeline

FWD = P4_DIR / "exact_forward.p4"
FLOW = P4_DIR / "flow_counter.p4"


def udp(src="10.0.0.1", dst="10.1.0.2", sport=1234, dport=80, payload=b"x" * 18, eth_dst="22:22:22:22:22:22"):
    return (Ether(dst=eth_dst, src="00:00:00:00:00:01") / IP(src=src, dst=dst) /
            UDP(sport=sport, dport=dport) / payload).build()


def test_exact_forward_hits_misses_and_counts():
    p = Pipeline.from_file(FWD)
    t = p.table("SwitchIngress.forward")
    entry = t.insert([0x222222222222], "SwitchIngress.hit", {"port": 5})
    frame = udp()
    assert [(o.port, o.frame) for o in p.process(1, frame)] == [(5, frame)]
    assert p.process(1, udp(eth_dst="22:22:22:22:22:23")) == []  # default miss(1) drops
    assert p.stats["drop_ctl_ingress"] == 1
    assert (entry.pkts, entry.bytes) == (1, len(frame) + 4), "bytes with the FCS, as a Tofino counts them"
    assert t.default.pkts == 1
    # Control-plane errors are explicit and leave the table unchanged.
    for bad, msg in [
        (lambda: t.insert([0x222222222222], "SwitchIngress.hit", {"port": 6}), "entry already exists"),
        (lambda: t.insert([1], "SwitchIngress.hit", {"port": 512}), "port=512 does not fit in 9 bits"),
        (lambda: t.insert([1], "SwitchIngress.miss", {"drop": 1}), "is default-only"),
        (lambda: t.insert([1 << 48], "SwitchIngress.hit", {"port": 1}), "does not fit in 48 bits"),
        (lambda: t.set_default("SwitchIngress.hit", {"port": 1}), "const default action"),
    ]:
        try:
            bad()
        except R.ConfigError as exc:
            assert msg in str(exc)
        else:
            raise AssertionError(msg)
    assert list(t.entries.values()) == [entry]


def test_flow_counter_registers_and_digests():
    p = Pipeline.from_file(FLOW)
    p.table("route").insert([(0x0A010000, 16)], "SwitchIngress.set_port", {"port": 3})
    flows = [udp(sport=1000 + i) for i in range(3)]
    for _ in range(8):
        for f in flows:
            out = p.process(1, f)
            assert [(o.port, o.frame) for o in out] == [(3, f)]
    digests = p.take_digests()
    # First packet and every 4th packet of each flow: counts 1, 4, 8 for three flows.
    by_port: dict[int, list[int]] = {}
    for d in digests:
        assert d.name == "pipe.SwitchIngressDeparser.flow_digest"
        assert (d.fields["src_addr"], d.fields["dst_addr"]) == (0x0A000001, 0x0A010002)
        by_port.setdefault(d.fields["src_port"], []).append(d.fields["count"])
    assert by_port == {1000: [1, 4, 8], 1001: [1, 4, 8], 1002: [1, 4, 8]}
    reg = p.register("SwitchIngress.flow_packets")
    assert sorted(v for v in reg.values if v) == [8, 8, 8]


def test_flow_counter_rejects_malformed_and_counts_them():
    p = Pipeline.from_file(FLOW)
    good = udp()
    bad_csum = bytearray(good)
    bad_csum[24] ^= 0xFF
    cases = {
        "drop_parser_PacketTooShort": good[:20],
        "drop_ctl_ingress": bytes(bad_csum),  # the parser's checksum error bit, dropped by ingress
        "drop_parser_reject": (Ether() / (b"\x00" * 40)).build(),  # not IPv4: the program rejects it
    }
    for reason, frame in cases.items():
        assert p.process(1, frame) == []
        assert p.stats[reason] == 1, p.stats
    assert p.stats["rx"] == 3 and p.stats["tx"] == 0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(min_size=0, max_size=120))
def test_random_bytes_never_crash(frame):
    p = _FLOW_PIPE
    before = sum(p.stats.values())
    out = p.process(1, frame)
    assert isinstance(out, list)
    assert p.stats["drop_internal_error"] == 0
    assert sum(p.stats.values()) > before


_FLOW_PIPE = Pipeline.from_file(FLOW)
