"""Meter/DirectMeter, ActionProfile/ActionSelector, Random and named arguments (issue 16), driven through the
project's BF Runtime client over real gRPC (tests/emulator/p4/tna_externs.p4), plus the Intel TNA examples'
acceptance list and the bf-rt.json shapes bf-p4c writes for them."""

from __future__ import annotations

import collections
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from emu_helpers import P4_DIR

from srchain.bfrt.client import BfrtClient, BfrtError
from srchain_contracts.bfrt import bfruntime_pb2 as pb
from srchain_emu.bfrt_schema import bfrt_info
from srchain_emu.bfrt_server import serve
from srchain_emu.bundle import compile_to_dir
from srchain_emu.cli import p4_cli
from srchain_emu.interp.pipeline import Pipeline

ETH = bytes.fromhex("020000000002" "020000000001" "88b5")
MS = 1_000_000  # ns
GREEN, YELLOW, RED = 0, 1, 3


def frame(a: int, b: int, d: int = 0, size: int = 100, src: bytes | None = None) -> bytes:
    eth = ETH if src is None else ETH[:6] + src + ETH[12:]
    head = eth + bytes([a, b, 0, 0]) + d.to_bytes(4, "big")
    return head + bytes(size - len(head))


def c_of(out) -> int:
    return int.from_bytes(out.frame[16:18], "big")


@pytest.fixture
def sw(tmp_path):
    srv, servicer, port = serve("127.0.0.1:0")
    compile_to_dir(P4_DIR / "tna_externs.p4", tmp_path / "out")
    c = BfrtClient(f"127.0.0.1:{port}")
    c.subscribe(learn=False)
    c.push_program("tna_externs", tmp_path / "out")
    c.bind("tna_externs")
    try:
        yield c, servicer
    finally:
        c.close()
        srv.stop(grace=None)


def colours(servicer, packets: list[tuple[int, bytes]]) -> list[int]:
    out = []
    for t, f in packets:
        (o,) = servicer.process(0, f, t)
        out.append(c_of(o))
    return out


# ---------------------------------------------------------------- meters


def test_meter_bursts_then_refills_as_rfc2698(sw):
    c, servicer = sw
    # CIR 800 kbit/s = 100 B/ms, CBS 8 kbit = 1000 B; PIR 1600 kbit/s = 200 B/ms, PBS 16 kbit = 2000 B
    c.modify("Ig.meter", {"$METER_INDEX": 3}, None, {"$METER_SPEC_CIR_KBPS": 800, "$METER_SPEC_PIR_KBPS": 1600,
                                                     "$METER_SPEC_CBS_KBITS": 8, "$METER_SPEC_PBS_KBITS": 16})
    (row,) = c.entries("Ig.meter", {"$METER_INDEX": 3})
    assert row.data == {"$METER_SPEC_CIR_KBPS": 800, "$METER_SPEC_PIR_KBPS": 1600, "$METER_SPEC_CBS_KBITS": 8,
                        "$METER_SPEC_PBS_KBITS": 16}
    burst = colours(servicer, [(0, frame(1, 3))] * 25)  # 25 x 100 B at one instant
    assert burst == [GREEN] * 10 + [YELLOW] * 10 + [RED] * 5
    # 10 ms later both buckets are full again (C +1000 B, P +2000 B, capped at CBS/PBS)
    assert colours(servicer, [(10 * MS, frame(1, 3))] * 11) == [GREEN] * 10 + [YELLOW]
    # a cell without a spec is unlimited: always green
    assert set(colours(servicer, [(0, frame(1, 4))] * 50)) == {GREEN}


@pytest.mark.parametrize(("gap_us", "expected"), [(2000, {GREEN}), (750, {GREEN, YELLOW}),
                                                   (250, {GREEN, YELLOW, RED})])
def test_meter_colours_by_rate_below_between_and_above_cir_pir(sw, gap_us, expected):
    c, servicer = sw
    c.modify("Ig.meter", {"$METER_INDEX": 5}, None, {"$METER_SPEC_CIR_KBPS": 800, "$METER_SPEC_PIR_KBPS": 1600,
                                                     "$METER_SPEC_CBS_KBITS": 8, "$METER_SPEC_PBS_KBITS": 16})
    # 100-byte packets: every 2 ms = 50 B/ms (< CIR), every 0.75 ms = 133 B/ms (CIR..PIR), 0.25 ms = 400 B/ms (> PIR)
    got = colours(servicer, [(i * gap_us * 1000, frame(1, 5)) for i in range(400)])
    assert set(got) == expected
    if gap_us == 750:  # in the long run a third of the bytes over CIR are yellow
        assert 0.15 < got[200:].count(YELLOW) / 200 < 0.5


def test_meter_colour_aware_and_adjust_byte_count(sw):
    c, servicer = sw
    c.modify("Ig.meter", {"$METER_INDEX": 15}, None, {"$METER_SPEC_CIR_KBPS": 800, "$METER_SPEC_PIR_KBPS": 1600,
                                                      "$METER_SPEC_CBS_KBITS": 8, "$METER_SPEC_PBS_KBITS": 16})
    # pre-coloured red stays red, yellow stays at most yellow (RFC 2698 colour-aware mode)
    assert colours(servicer, [(0, frame(6, RED))]) == [RED]
    assert colours(servicer, [(0, frame(6, YELLOW))]) == [YELLOW]
    # (a pre-coloured yellow packet took only from P: C still holds 1000 B)
    # adjust_byte_count = -1000: a 100-byte packet counts 1100 B, more than C holds
    assert colours(servicer, [(0, frame(6, GREEN, d=(-1000) & 0xFFFFFFFF))]) == [YELLOW]
    # +100: counts 0 B, always fits
    assert colours(servicer, [(0, frame(6, GREEN, d=100))] * 20) == [GREEN] * 20


def test_packet_meter_and_programmed_colour_values(sw):
    c, servicer = sw
    with pytest.raises(BfrtError, match="no data field"):  # a PACKETS meter takes the _PPS/_PKTS fields
        c.modify("Ig.pmeter", {"$METER_INDEX": 0}, None, {"$METER_SPEC_CIR_KBPS": 1})
    c.modify("Ig.pmeter", {"$METER_INDEX": 0}, None, {"$METER_SPEC_CIR_PPS": 1000, "$METER_SPEC_PIR_PPS": 2000,
                                                      "$METER_SPEC_CBS_PKTS": 2, "$METER_SPEC_PBS_PKTS": 3})
    # Meter(..., red=30, yellow=20, green=10): 2 green, 1 yellow, then red; the size of a packet does not matter
    assert colours(servicer, [(0, frame(7, 0, size=1000))] * 5) == [10, 10, 20, 30, 30]
    with pytest.raises(BfrtError, match="RFC 2698"):
        c.modify("Ig.pmeter", {"$METER_INDEX": 1}, None, {"$METER_SPEC_CIR_PPS": 10, "$METER_SPEC_PIR_PPS": 5})
    c.delete("Ig.pmeter")  # DELETE without a key: every cell back to the unlimited default
    assert colours(servicer, [(0, frame(7, 0))] * 5) == [10] * 5


def test_direct_meter_spec_is_match_entry_data(sw):
    c, servicer = sw
    c.insert("Ig.dm", {"hdr.data.b": 9}, "Ig.colour_direct",
             {"$METER_SPEC_CIR_KBPS": 800, "$METER_SPEC_PIR_KBPS": 800, "$METER_SPEC_CBS_KBITS": 8,
              "$METER_SPEC_PBS_KBITS": 8})
    c.insert("Ig.dm", {"hdr.data.b": 10}, "Ig.colour_direct")  # no spec: unlimited
    (e,) = c.entries("Ig.dm", {"hdr.data.b": 9})
    assert e.action == "Ig.colour_direct" and e.data["$METER_SPEC_CIR_KBPS"] == 800
    assert colours(servicer, [(0, frame(2, 9))] * 12) == [GREEN] * 10 + [RED] * 2  # PIR = CIR: no yellow
    (o,) = servicer.process(128, frame(2, 9), 0)
    assert c_of(o) == GREEN  # port 128 is in pipe 1: the entry's bucket there is still full
    assert set(colours(servicer, [(0, frame(2, 10))] * 30)) == {GREEN}
    # an unset byte meter reads back as a Tofino 1's largest rate and burst (tna_meter_lpf_wred's default spec)
    (u,) = c.entries("Ig.dm", {"hdr.data.b": 10})
    assert [u.data[f"$METER_SPEC_{f}"] for f in ("CIR_KBPS", "PIR_KBPS", "CBS_KBITS", "PBS_KBITS")] == \
        [5195848221, 5195848221, 4380866642, 4380866642]
    # MODIFY with a new spec starts the entry's buckets afresh
    c.modify("Ig.dm", {"hdr.data.b": 9}, "Ig.colour_direct", {"$METER_SPEC_CIR_KBPS": 1600,
             "$METER_SPEC_PIR_KBPS": 1600, "$METER_SPEC_CBS_KBITS": 16, "$METER_SPEC_PBS_KBITS": 16})
    assert colours(servicer, [(0, frame(2, 9))] * 21) == [GREEN] * 20 + [RED]


# ---------------------------------------------------------------- action profiles and selectors


def test_action_profile_members_are_shared_by_entries(sw):
    c, servicer = sw
    c.insert("Ig.plain_ap", {"$ACTION_MEMBER_ID": 1}, "Ig.set_c", {"v": 0x1234})
    c.insert("Ig.prof", {"hdr.data.b": 1}, None, {"$ACTION_MEMBER_ID": 1})
    c.insert("Ig.prof", {"hdr.data.b": 2}, None, {"$ACTION_MEMBER_ID": 1})
    assert [c_of(servicer.process(0, frame(4, b))[0]) for b in (1, 2, 3)] == [0x1234, 0x1234, 0]
    (e,) = c.entries("Ig.prof", {"hdr.data.b": 2})
    assert e.action is None and e.data == {"$ACTION_MEMBER_ID": 1}
    c.modify("Ig.plain_ap", {"$ACTION_MEMBER_ID": 1}, "Ig.set_c", {"v": 0x4321})  # both entries follow
    assert [c_of(servicer.process(0, frame(4, b))[0]) for b in (1, 2)] == [0x4321, 0x4321]
    (m,) = c.entries("Ig.plain_ap")
    assert m.key == {"$ACTION_MEMBER_ID": 1} and m.action == "Ig.set_c" and m.data == {"v": 0x4321}
    with pytest.raises(BfrtError, match="member 1 is used by an entry"):
        c.delete("Ig.plain_ap", {"$ACTION_MEMBER_ID": 1})
    with pytest.raises(BfrtError, match="NOT_FOUND"):
        c.insert("Ig.prof", {"hdr.data.b": 5}, None, {"$ACTION_MEMBER_ID": 99})
    with pytest.raises(BfrtError, match=r"no name 'Ig\.set_c' among the actions"):  # no action specs: indirect
        c.insert("Ig.prof", {"hdr.data.b": 6}, "Ig.set_c", {"v": 1})
    c.delete("Ig.prof")
    c.delete("Ig.plain_ap", {"$ACTION_MEMBER_ID": 1})
    assert c.entries("Ig.plain_ap") == []


def test_indirect_default_entry_runs_a_member(sw):
    """An indirect table's default entry names a member (tna_action_profile ActionProfileEntryIteratorTest): a miss
    runs it and follows its changes, the member cannot be deleted while the default uses it, a reset restores the
    P4 default action, and a default naming no member is refused."""
    c, servicer = sw
    c.insert("Ig.plain_ap", {"$ACTION_MEMBER_ID": 7}, "Ig.set_c", {"v": 0x77})

    def set_default(data: dict) -> None:
        c.write([c.make_update(pb.Update.MODIFY, "Ig.prof", None, None, data, default=True)])

    assert c_of(servicer.process(0, frame(4, 3))[0]) == 0, "the P4 default action first"
    set_default({"$ACTION_MEMBER_ID": 7})
    assert c_of(servicer.process(0, frame(4, 3))[0]) == 0x77
    (d,) = c.entries("Ig.prof", default=True)
    assert d.is_default and d.data == {"$ACTION_MEMBER_ID": 7}
    c.modify("Ig.plain_ap", {"$ACTION_MEMBER_ID": 7}, "Ig.set_c", {"v": 0x78})
    assert c_of(servicer.process(0, frame(4, 3))[0]) == 0x78
    with pytest.raises(BfrtError, match=r"member 7 is used by an entry of pipe\.Ig\.prof"):
        c.delete("Ig.plain_ap", {"$ACTION_MEMBER_ID": 7})
    with pytest.raises(BfrtError, match=r"give exactly one of \$ACTION_MEMBER_ID"):
        c.write([c.make_update(pb.Update.MODIFY, "Ig.prof", None, None, None, default=True)])
    with pytest.raises(BfrtError, match="NOT_FOUND"):
        set_default({"$ACTION_MEMBER_ID": 99})
    assert c.entries("Ig.prof", default=True)[0].data == {"$ACTION_MEMBER_ID": 7}, "refusals changed nothing"
    c.reset_default("Ig.prof")
    assert c_of(servicer.process(0, frame(4, 3))[0]) == 0
    c.delete("Ig.plain_ap", {"$ACTION_MEMBER_ID": 7})


def test_selector_spreads_flows_over_active_members_and_follows_changes(sw):
    c, servicer = sw
    for mid in (1, 2, 3, 4):
        c.insert("Ig.sel_ap", {"$ACTION_MEMBER_ID": mid}, "Ig.to_port", {"port": mid + 1})
    c.insert("Ig.selector", {"$SELECTOR_GROUP_ID": 10}, None, {"$ACTION_MEMBER_ID": [1, 2, 3, 4]})
    c.insert("Ig.sel", {"hdr.data.b": 7}, None, {"$SELECTOR_GROUP_ID": 10})
    c.insert("Ig.sel", {"hdr.data.b": 8}, None, {"$ACTION_MEMBER_ID": 4})
    (g,) = c.entries("Ig.selector")
    assert g.data == {"$ACTION_MEMBER_ID": [1, 2, 3, 4], "$ACTION_MEMBER_STATUS": [True] * 4,
                      "$MAX_GROUP_SIZE": 8}

    def ports(flows: range) -> list[int]:
        return [servicer.process(0, frame(3, 7, d=f))[0].port for f in flows]

    first = ports(range(400))
    assert ports(range(400)) == first  # a flow keeps its member
    share = collections.Counter(first)
    assert set(share) == {2, 3, 4, 5} and min(share.values()) > 50  # spread over the four members
    # the selector keys include ethernet.src: another source moves some flows
    moved = [servicer.process(0, frame(3, 7, d=f, src=b"\x02\x00\x00\x00\x00\x09"))[0].port for f in range(400)]
    assert moved != first
    assert {servicer.process(0, frame(3, 8, d=f))[0].port for f in range(50)} == {5}  # a member entry
    # member 2 (port 3) inactive: no flow goes there, the others keep spreading
    c.modify("Ig.selector", {"$SELECTOR_GROUP_ID": 10}, None,
             {"$ACTION_MEMBER_ID": [1, 2, 3, 4], "$ACTION_MEMBER_STATUS": [True, False, True, True]})
    assert set(ports(range(400))) == {2, 4, 5}
    with pytest.raises(BfrtError, match="used by group 10"):
        c.delete("Ig.sel_ap", {"$ACTION_MEMBER_ID": 2})
    c.modify("Ig.selector", {"$SELECTOR_GROUP_ID": 10}, None, {"$ACTION_MEMBER_ID": [1, 3]})
    c.delete("Ig.sel_ap", {"$ACTION_MEMBER_ID": 2})
    assert set(ports(range(400))) == {2, 4}
    # a member's new data shows through the group
    c.modify("Ig.sel_ap", {"$ACTION_MEMBER_ID": 3}, "Ig.to_port", {"port": 9})
    assert set(ports(range(400))) == {2, 9}
    # a group with no active member runs the table's default action (drop); one an entry uses cannot be emptied
    c.modify("Ig.selector", {"$SELECTOR_GROUP_ID": 10}, None,
             {"$ACTION_MEMBER_ID": [1], "$ACTION_MEMBER_STATUS": [False]})
    assert servicer.process(0, frame(3, 7, d=1)) == []
    # limits: $MAX_GROUP_SIZE, group count, group in use
    with pytest.raises(BfrtError, match="MAX_GROUP_SIZE"):
        c.insert("Ig.selector", {"$SELECTOR_GROUP_ID": 11}, None, {"$ACTION_MEMBER_ID": [1], "$MAX_GROUP_SIZE": 9})
    c.insert("Ig.selector", {"$SELECTOR_GROUP_ID": 11}, None, {"$ACTION_MEMBER_ID": [1, 3], "$MAX_GROUP_SIZE": 2})
    with pytest.raises(BfrtError, match="more than its"):
        c.modify("Ig.selector", {"$SELECTOR_GROUP_ID": 11}, None, {"$ACTION_MEMBER_ID": [1, 3, 4]})
    with pytest.raises(BfrtError, match="used by an entry"):
        c.delete("Ig.selector", {"$SELECTOR_GROUP_ID": 10})
    (e,) = c.entries("Ig.sel", {"hdr.data.b": 7})
    assert e.data == {"$SELECTOR_GROUP_ID": 10}


def test_random_covers_its_width(sw):
    _, servicer = sw
    vals = [c_of(servicer.process(0, frame(5, 0))[0]) for _ in range(300)]
    assert len(set(vals)) > 250 and max(vals) < 1 << 16 and max(vals) > 1 << 15


def test_bfrt_json_shapes_of_the_new_tables():
    info = bfrt_info(Pipeline.from_file(P4_DIR / "tna_externs.p4"))
    by = {t["name"]: t for t in info["tables"]}
    sel, ap, meter, dm = (by[f"pipe.Ig.{n}"] for n in ("sel", "sel_ap", "meter", "dm"))
    assert sel["table_type"] == "MatchAction_Indirect_Selector" and sel["action_specs"] == []
    assert [k["name"] for k in sel["key"]] == ["hdr.data.b"]  # selector keys are the hash input, not keys
    assert [(f["id"], f["name"]) for f in sel["data"][0]["oneof"]] == [(65539, "$ACTION_MEMBER_ID"),
                                                                       (65540, "$SELECTOR_GROUP_ID")]
    assert by["pipe.Ig.prof"]["table_type"] == "MatchAction_Indirect"
    assert ap["table_type"] == "Action" and [a["name"] for a in ap["action_specs"]] == ["Ig.to_port", "Ig.drop"]
    assert by["pipe.Ig.selector"]["table_type"] == "Selector"
    assert [(d["singleton"]["id"], d["singleton"]["name"]) for d in by["pipe.Ig.selector"]["data"]] == [
        (65539, "$ACTION_MEMBER_ID"), (65564, "$ACTION_MEMBER_STATUS"), (65565, "$MAX_GROUP_SIZE")]
    assert meter["table_type"] == "Meter" and meter["key"][0]["id"] == 65555
    assert [d["singleton"]["name"] for d in by["pipe.Ig.pmeter"]["data"]] == [
        "$METER_SPEC_CIR_PPS", "$METER_SPEC_PIR_PPS", "$METER_SPEC_CBS_PKTS", "$METER_SPEC_PBS_PKTS"]
    assert [d["singleton"]["id"] for d in dm["data"]] == [65545, 65546, 65547, 65548]
    assert dm["attributes"] == ["MeterByteCountAdjust", "EntryScope"]


# ---------------------------------------------------------------- Intel's TNA examples

EXAMPLES = Path(os.environ.get("SRCHAIN_TNA_EXAMPLES", "/opt/bf-p4c/open-p4studio/pkgsrc/p4-examples/p4_16_programs"))
ACCEPTED = {"tna_32q_multiprogram", "tna_action_profile", "tna_action_selector", "tna_alpm", "tna_bridged_md",
            "tna_checksum", "tna_counter", "tna_custom_hash", "tna_digest", "tna_dkm", "tna_dyn_hashing",
            "tna_exact_match",
            "tna_field_slice", "tna_idletimeout", "tna_lpm_match", "tna_meter_bytecount_adjust",
            "tna_meter_lpf_wred", "tna_mirror",
            "tna_operations", "tna_pktgen", "tna_port_metadata", "tna_port_metadata_extern", "tna_ports",
            "tna_proxy_hash",
            "tna_pvs", "tna_random", "tna_range_match", "tna_register", "tna_resubmit", "tna_snapshot",
            "tna_symmetric_hash", "tna_ternary_match", "tna_timestamp"}
REFUSED = {  # example -> the refusal `srchain p4 check` prints (the first one it meets)
    "tna_32q_2pipe": "the emulator supports exactly one pipeline",
    "tna_multicast": "copy_to_cpu is not modelled by the emulator",
}


def example_program(name: str) -> Path:
    if name == "tna_32q_multiprogram":  # two programs (one per pipe); program_a is checked
        return EXAMPLES / name / "program_a" / f"{name}_a.p4"
    return EXAMPLES / name / f"{name}.p4"


def test_the_acceptance_list_covers_every_example():
    if not EXAMPLES.exists():
        pytest.skip(f"{EXAMPLES} not installed")
    assert {p.name for p in EXAMPLES.glob("tna_*")} == ACCEPTED | set(REFUSED)
    # tna_dyn_hashing and tna_pktgen: accepted, their dynamic hashing and packet generator tables served
    assert len(ACCEPTED) == 33


@pytest.mark.parametrize("name", sorted(ACCEPTED | set(REFUSED)))
def test_intel_tna_example_is_accepted_or_refused_with_its_reason(name):
    path = example_program(name)
    if not path.exists():
        pytest.skip(f"{path} not installed")
    out = CliRunner().invoke(p4_cli, ["check", "-I", str(path.parent), "-I", str(EXAMPLES), str(path)])
    if name in ACCEPTED:
        assert out.exit_code == 0, out.output
        if name == "tna_32q_multiprogram":  # and the other pipe's program
            b = EXAMPLES / name / "program_b" / f"{name}_b.p4"
            out_b = CliRunner().invoke(p4_cli, ["check", "-I", str(b.parent), "-I", str(EXAMPLES), str(b)])
            assert out_b.exit_code == 0, out_b.output
        info = bfrt_info(Pipeline.from_file(path, [path.parent, EXAMPLES]))
        assert json.dumps(info)  # answers bfrt_info_get
    else:
        assert out.exit_code == 1 and REFUSED[name] in out.output, out.output
        assert f"{path.name}:" in out.output or ".p4:" in out.output  # file:line


# bf-rt.json fields as bf-p4c 1.2.5.16 writes them for the same examples (type, key and data ids/names)
BF_P4C_SHAPES = {
    ("tna_proxy_hash", "pipe.SwitchIngress.ipv4_match_proxy_hash"): (
        "MatchAction_Direct", [(1, "hdr.ethernet.dst_addr"), (2, "hdr.ethernet.src_addr"), (3, "hdr.ipv4.dst_addr"),
                               (4, "hdr.ipv4.src_addr")], []),
    ("tna_pvs", "pipe.ParserI.vs"): ("ParserValueSet", [(1, "f16"), (2, "f8")], []),
    ("tna_ternary_match", "pipe.SwitchIngress.forward_atcam"): (
        "MatchAction_Direct", [(1, "ig_md.partition.partition_index"), (2, "hdr.ipv4.dst_addr"),
                               (65537, "$MATCH_PRIORITY")], []),
    ("tna_meter_lpf_wred", "pipe.SwitchIngress.simple_wred"): (
        "Wred", [(65561, "$WRED_INDEX")],
        [(65571, "$WRED_SPEC_TIME_CONSTANT_NS"), (65572, "$WRED_SPEC_MIN_THRESH_CELLS"),
         (65573, "$WRED_SPEC_MAX_THRESH_CELLS"), (65574, "$WRED_SPEC_MAX_PROBABILITY")]),
    ("tna_meter_lpf_wred", "pipe.SwitchIngress.direct_lpf_match_tbl"): (
        "MatchAction_Direct", [(1, "hdr.ipv4.dst_addr")],
        [(65567, "$LPF_SPEC_TYPE"), (65568, "$LPF_SPEC_GAIN_TIME_CONSTANT_NS"),
         (65569, "$LPF_SPEC_DECAY_TIME_CONSTANT_NS"), (65570, "$LPF_SPEC_OUT_SCALE_DOWN_FACTOR")]),
    ("tna_alpm", "pipe.SwitchIngress.ipv6_subset_key"): (
        "MatchAction_Direct", [(1, "vrf"), (2, "hdr.ipv6.dst_addr[127:64]")], []),
    ("tna_lpm_match", "pipe.SwitchIngress.alpm_forward"): (
        "MatchAction_Direct", [(1, "vrf"), (2, "hdr.ipv4.dst_addr")], []),
    ("tna_register", "pipe.SwitchIngress.reg_match_dir"): (
        "MatchAction_Direct", [(1, "hdr.ethernet.src_addr")],
        [(1, "SwitchIngress.test_reg_dir.first"), (2, "SwitchIngress.test_reg_dir.second")]),
    ("tna_register", "pipe.SwitchIngress.test_asn"): ("RegisterParam", [], [(1, "value")]),
    ("tna_port_metadata_extern", "pipe.SwitchIngressParser.$PORT_METADATA"): (
        "PortMetadata", [(65575, "ig_intr_md.ingress_port")],
        [(1, "field1"), (2, "field2"), (3, "field3"), (4, "field4")]),
    ("tna_port_metadata", "pipe.SwitchIngressParser.$PORT_METADATA"): (
        "PortMetadata", [(65575, "ig_intr_md.ingress_port")], [(65576, "$DEFAULT_FIELD")]),
    ("tna_action_selector", "pipe.SwitchIngress.forward"): (
        "MatchAction_Indirect_Selector", [(1, "ig_intr_md.ingress_port")],
        [(65539, "$ACTION_MEMBER_ID"), (65540, "$SELECTOR_GROUP_ID")]),
    ("tna_action_selector", "pipe.SwitchIngress.example_action_selector_ap"): (
        "Action", [(65539, "$ACTION_MEMBER_ID")], []),
    ("tna_action_selector", "pipe.SwitchIngress.example_action_selector"): (
        "Selector", [(65540, "$SELECTOR_GROUP_ID")],
        [(65539, "$ACTION_MEMBER_ID"), (65564, "$ACTION_MEMBER_STATUS"), (65565, "$MAX_GROUP_SIZE")]),
    ("tna_action_profile", "pipe.SwitchIngress.fib"): (
        "MatchAction_Indirect", [(1, "vrf"), (2, "dst_addr")], [(65539, "$ACTION_MEMBER_ID")]),
    ("tna_meter_bytecount_adjust", "pipe.SwitchIngress.meter"): (
        "Meter", [(65555, "$METER_INDEX")],
        [(65545, "$METER_SPEC_CIR_KBPS"), (65546, "$METER_SPEC_PIR_KBPS"), (65547, "$METER_SPEC_CBS_KBITS"),
         (65548, "$METER_SPEC_PBS_KBITS")]),
    ("tna_exact_match", "pipe.SwitchIngress.ipRoute"): (
        "MatchAction_Direct", [(1, "vrf"), (2, "hdr.ipv4.dst_addr")],
        [(65553, "$COUNTER_SPEC_BYTES"), (65554, "$COUNTER_SPEC_PKTS"), (65545, "$METER_SPEC_CIR_KBPS"),
         (65546, "$METER_SPEC_PIR_KBPS"), (65547, "$METER_SPEC_CBS_KBITS"), (65548, "$METER_SPEC_PBS_KBITS")]),
}


@pytest.mark.parametrize(("example", "table"), sorted(BF_P4C_SHAPES))
def test_bfrt_json_matches_bf_p4c_field_by_field(example, table):
    path = example_program(example)
    if not path.exists():
        pytest.skip(f"{path} not installed")
    info = bfrt_info(Pipeline.from_file(path, [path.parent, EXAMPLES]))
    t = next(x for x in info["tables"] if x["name"] == table)
    data = []
    for d in t["data"]:
        data += [(f["id"], f["name"]) for f in d.get("oneof", [d.get("singleton")])]
    assert (t["table_type"], [(k["id"], k["name"]) for k in t["key"]], data) == BF_P4C_SHAPES[(example, table)]


def test_match_entry_on_an_empty_group_is_refused(sw):
    """As on the SDE (tna_action_selector): an entry cannot point at a group with no members yet."""
    c, _ = sw
    c.insert("Ig.sel_ap", {"$ACTION_MEMBER_ID": 1}, "Ig.to_port", {"port": 2})
    c.insert("Ig.selector", {"$SELECTOR_GROUP_ID": 11}, None, {"$ACTION_MEMBER_ID": []})
    with pytest.raises(BfrtError) as info:
        c.insert("Ig.sel", {"hdr.data.b": 7}, None, {"$SELECTOR_GROUP_ID": 11})
    assert info.value.code == "NOT_FOUND" and "no members" in str(info.value)
    c.modify("Ig.selector", {"$SELECTOR_GROUP_ID": 11}, None, {"$ACTION_MEMBER_ID": [1]})
    c.insert("Ig.sel", {"hdr.data.b": 7}, None, {"$SELECTOR_GROUP_ID": 11})


def test_a_group_in_use_cannot_be_emptied_or_deleted(sw):
    """As on the SDE (tna_action_selector): while match entries point at a group it keeps its members."""
    c, _ = sw
    c.insert("Ig.sel_ap", {"$ACTION_MEMBER_ID": 1}, "Ig.to_port", {"port": 2})
    c.insert("Ig.selector", {"$SELECTOR_GROUP_ID": 12}, None, {"$ACTION_MEMBER_ID": [1]})
    c.insert("Ig.sel", {"hdr.data.b": 9}, None, {"$SELECTOR_GROUP_ID": 12})
    for attempt in (lambda: c.modify("Ig.selector", {"$SELECTOR_GROUP_ID": 12}, None, {"$ACTION_MEMBER_ID": []}),
                    lambda: c.delete("Ig.selector", {"$SELECTOR_GROUP_ID": 12}), lambda: c.delete("Ig.selector")):
        with pytest.raises(BfrtError) as info:
            attempt()
        assert info.value.code == "ALREADY_EXISTS" and "used by an entry" in str(info.value)
    assert c.entries("Ig.selector", {"$SELECTOR_GROUP_ID": 12})[0].data["$ACTION_MEMBER_ID"] == [1]
    c.delete("Ig.sel", {"hdr.data.b": 9})
    c.delete("Ig.selector", {"$SELECTOR_GROUP_ID": 12})
