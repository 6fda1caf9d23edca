"""One small P4 snippet per supported construct: load it, run a frame through it, check the output."""

from __future__ import annotations

from emu_helpers import data_fields, data_frame

from srchain_emu.interp.pipeline import Pipeline


def run_data(p: Pipeline, *fields: int, tail: bytes = b"") -> tuple[int, int, int, int]:
    out = p.process(0, data_frame(*fields, tail=tail))
    assert len(out) == 1, p.stats
    return data_fields(out[0].frame)


def test_bit_arithmetic_wraps_at_width(build):
    p = build(apply="""
        hdr.data.a = hdr.data.a + 10;
        hdr.data.b = hdr.data.b - 8w3;
        hdr.data.c = hdr.data.c * 3;
        hdr.data.d = ~hdr.data.d;
    """)
    assert run_data(p, 250, 1, 0x6000, 0) == (4, 254, 0x2000, 0xFFFFFFFF)


def test_signed_int_wraps_and_casts(build):
    p = build(apply="""
        md.s = (int<8>) hdr.data.a;
        md.s = md.s + 100;
        hdr.data.b = (bit<8>) md.s;
        if (md.s < 0) { hdr.data.a = 1; } else { hdr.data.a = 2; }
    """)
    assert run_data(p, 100) == (1, 200, 0, 0)  # 100 + 100 wraps to -56
    assert run_data(p, 0xF0) == (2, 84, 0, 0)  # -16 + 100 = 84


def test_slices_concat_shifts_and_saturation(build):
    p = build(apply="""
        hdr.data.c = hdr.data.a ++ hdr.data.b;
        hdr.data.d[7:4] = 0xf;
        hdr.data.d[31:24] = hdr.data.c[11:4];
        hdr.data.a = hdr.data.a |+| 200;
        hdr.data.b = hdr.data.b |-| 50;
        md.c = (bit<16>) hdr.data.a << 4;
    """)
    assert run_data(p, 0x72, 0x14) == (255, 0, 0x7214, 0x210000F0)


def test_casts_between_widths_and_bool(build):
    p = build(apply="""
        hdr.data.a = (bit<8>) hdr.data.c;          // truncate
        hdr.data.d = (bit<32>) hdr.data.c;         // zero-extend
        md.flag = (bool) hdr.data.b[0:0];
        hdr.data.b = (bit<8>) ((bit<1>) md.flag);
    """)
    assert run_data(p, 0, 3, 0x1FF) == (0xFF, 1, 0x1FF, 0x1FF)


def test_ternary_operator_and_compare(build):
    p = build(apply="hdr.data.a = hdr.data.b > 10 ? 8w1 : 8w2; hdr.data.c = hdr.data.b == 5 ? 16w7 : 16w9;")
    assert run_data(p, 0, 11) == (1, 11, 9, 0)
    assert run_data(p, 0, 5) == (2, 5, 7, 0)


def test_constants_typedefs_and_enums(build):
    p = build(
        types="""
            typedef bit<8> byte_t;
            const byte_t MAGIC = 0x2a;
            enum bit<8> Color { RED = 1, BLUE = 7 }
            enum Mode { FAST, SLOW }
        """,
        apply="""
            Mode m = Mode.SLOW;
            byte_t v = MAGIC;
            if (m == Mode.SLOW) { hdr.data.a = v; }
            hdr.data.b = (bit<8>) Color.BLUE;
        """,
    )
    assert run_data(p) == (0x2A, 7, 0, 0)


def test_validity_set_and_clear(build):
    p = build(apply="""
        if (hdr.data.isValid()) { hdr.data.setInvalid(); }
        hdr.ipv4.setValid();
        hdr.ipv4.version = 4;
        hdr.ipv4.ihl = 5;
        hdr.ipv4.ttl = 9;
    """)
    out = p.process(0, data_frame(1, 2, 3, 4))[0].frame
    # data_h is no longer emitted (invalid); ipv4 is, in the struct's field order.
    assert out[14] == 0x45 and out[22] == 9
    assert len(out) == 14 + 20


def test_exit_stops_the_control(build):
    p = build(apply="hdr.data.a = 1; if (hdr.data.b == 1) { exit; } hdr.data.a = 2;")
    assert run_data(p, 0, 1) == (1, 1, 0, 0)
    assert run_data(p, 0, 0) == (2, 0, 0, 0)


def test_parser_select_masks_ranges_tuples_and_default(build):
    parser = """
    state parse_ethernet {
        pkt.extract(hdr.ethernet);
        transition select(hdr.ethernet.ether_type) { 0x88b5: parse_data; default: accept; }
    }
    state parse_data {
        pkt.extract(hdr.data);
        transition select(hdr.data.a, hdr.data.b) {
            (0x10 &&& 0xf0, _): mask_hit;
            (_, 20 .. 29): range_hit;
            (1, 1): reject;
            default: accept;
        }
    }
    state mask_hit { hdr.data.c = 1; transition accept; }
    state range_hit { hdr.data.c = 2; transition accept; }
    """
    p = build(parser=parser)
    assert run_data(p, 0x1A, 0)[2] == 1
    assert run_data(p, 0x01, 25)[2] == 2
    assert run_data(p, 0x01, 30)[2] == 0
    assert p.process(0, data_frame(1, 1)) == []
    assert p.stats["drop_parser_reject"] == 1


def test_lookahead_and_verify(build):
    parser = """
    state parse_ethernet {
        pkt.extract(hdr.ethernet);
        verify(hdr.ethernet.ether_type == 0x88b5, error.NoMatch);
        transition select(pkt.lookahead<bit<8>>()) { 0xff: accept; default: parse_data; }
    }
    state parse_data { pkt.extract(hdr.data); transition accept; }
    """
    p = build(parser=parser, apply="if (hdr.data.isValid()) { hdr.data.b = 9; }")
    assert run_data(p, 1) == (1, 9, 0, 0)
    out = p.process(0, data_frame(0xFF))[0].frame
    assert out[15] == 0  # data_h not parsed: bytes pass through unchanged
    frame = data_frame()[:12] + b"\x08\x00" + bytes(8)
    assert p.process(0, frame) == []
    assert p.stats["drop_parser_NoMatch"] == 1


def test_mpls_stack_next_last_push_pop(build):
    parser = """
    state parse_ethernet {
        pkt.extract(hdr.ethernet);
        transition select(hdr.ethernet.ether_type) { 0x8847: parse_mpls; default: accept; }
    }
    state parse_mpls {
        pkt.extract(hdr.mpls.next);
        transition select(hdr.mpls.last.bos) { 0: parse_mpls; 1: accept; }
    }
    """
    apply = """
        if (hdr.mpls[0].label == 100) {
            hdr.mpls.pop_front(1);
        } else if (hdr.mpls[0].label == 200) {
            hdr.mpls.push_front(1);
            hdr.mpls[0].setValid();
            hdr.mpls[0].label = 300;
            hdr.mpls[0].bos = 0;
            hdr.mpls[0].ttl = hdr.mpls[1].ttl - 1;
        }
    """
    p = build(parser=parser, apply=apply)

    def mpls(labels: list[int], ttl: int = 64) -> bytes:
        out = b""
        for i, lab in enumerate(labels):
            bos = 1 if i == len(labels) - 1 else 0
            out += ((lab << 12) | (bos << 8) | ttl).to_bytes(4, "big")
        return out

    eth = bytes(12) + b"\x88\x47"
    assert p.process(0, eth + mpls([100, 16001, 16002]) + b"PAY")[0].frame == eth + mpls([16001, 16002]) + b"PAY"
    got = p.process(0, eth + mpls([200]) + b"PAY")[0].frame
    assert got == eth + ((300 << 12) | 63).to_bytes(4, "big") + mpls([200]) + b"PAY"
    # Five labels overflow the 4-deep stack: the parser rejects, counted, no crash.
    assert p.process(0, eth + mpls([1, 2, 3, 4, 5])) == []
    assert p.stats["drop_parser_StackOutOfBounds"] == 1


def test_directional_action_parameters(build):
    p = build(
        locals="""
            action add(in bit<8> x, inout bit<8> y, out bit<8> z) { y = y + x; z = x; }
        """,
        apply="add(hdr.data.a, hdr.data.b, md.a); hdr.data.c = (bit<16>) md.a;",
    )
    assert run_data(p, 3, 4) == (3, 7, 3, 0)


def test_exact_table_hit_miss_and_switch_action_run(build):
    p = build(
        locals="""
            action set_b(bit<8> v) { hdr.data.b = v; }
            action mark() { hdr.data.c = 0xAAAA; }
            table t {
                key = { hdr.data.a : exact; }
                actions = { set_b; mark; NoAction; }
                default_action = NoAction;
            }
        """,
        apply="""
            switch (t.apply().action_run) {
                set_b: { hdr.data.d = 1; }
                mark: { hdr.data.d = 2; }
                default: { hdr.data.d = 3; }
            }
            if (t.apply().hit) { md.a = 1; }
            if (t.apply().miss) { hdr.data.d = hdr.data.d + 10; }
        """,
    )
    t = p.table("Ig.t")
    t.insert([1], "Ig.set_b", {"v": 9})
    t.insert([2], "Ig.mark", {})
    assert run_data(p, 1) == (1, 9, 0, 1)
    assert run_data(p, 2) == (2, 0, 0xAAAA, 2)
    assert run_data(p, 3) == (3, 0, 0, 13)


def test_ternary_priority_lpm_longest_prefix_and_range(build):
    p = build(
        locals="""
            action set_c(bit<16> v) { hdr.data.c = v; }
            table tern {
                key = { hdr.data.a : ternary; }
                actions = { set_c; }
            }
            table lpm_t {
                key = { hdr.data.d : lpm; }
                actions = { set_c; }
            }
            table rng {
                key = { hdr.data.b : range; hdr.data.a : exact; }
                actions = { set_c; }
            }
        """,
        apply="""
            if (hdr.data.b == 0) { tern.apply(); }
            else if (hdr.data.b == 1) { lpm_t.apply(); }
            else { rng.apply(); }
        """,
    )
    tern = p.table("tern")
    tern.insert([(0x10, 0xF0)], "Ig.set_c", {"v": 1}, priority=10)
    tern.insert([(0x12, 0xFF)], "Ig.set_c", {"v": 2}, priority=5)
    assert run_data(p, 0x12, 0)[2] == 2  # both match; lower priority value wins
    assert run_data(p, 0x13, 0)[2] == 1
    assert run_data(p, 0x23, 0)[2] == 0  # miss -> NoAction default
    lpm = p.table("lpm_t")
    lpm.insert([(0x0A000000, 8)], "Ig.set_c", {"v": 8})
    lpm.insert([(0x0A010000, 16)], "Ig.set_c", {"v": 16})
    lpm.insert([(0, 0)], "Ig.set_c", {"v": 99})
    assert run_data(p, 0, 1, 0, 0x0A010203)[2] == 16
    assert run_data(p, 0, 1, 0, 0x0A020203)[2] == 8
    assert run_data(p, 0, 1, 0, 0x0B000000)[2] == 99
    rng = p.table("rng")
    rng.insert([(10, 20), 7], "Ig.set_c", {"v": 5})
    assert run_data(p, 7, 15)[2] == 5
    assert run_data(p, 7, 21)[2] == 0
    assert run_data(p, 8, 15)[2] == 0


def test_const_entries_and_const_default(build):
    p = build(
        locals="""
            action set_c(bit<16> v) { hdr.data.c = v; }
            table t {
                key = { hdr.data.a : ternary; hdr.data.b : exact; }
                actions = { set_c; }
                const default_action = set_c(16w0xdead);
                const entries = {
                    (0x01 &&& 0x0f, 1) : set_c(1);
                    (_, 1) : set_c(2);
                }
                size = 16;
            }
        """,
        apply="t.apply();",
    )
    assert run_data(p, 0x21, 1)[2] == 1  # first entry wins over the catch-all
    assert run_data(p, 0x22, 1)[2] == 2
    assert run_data(p, 0x22, 2)[2] == 0xDEAD
    t = p.table("t")
    for attempt in (lambda: t.insert([(1, 1), 3], "Ig.set_c", {"v": 1}), lambda: t.set_default("Ig.set_c", {"v": 1})):
        try:
            attempt()
        except ValueError as exc:
            assert "const" in str(exc)
        else:
            raise AssertionError("const table accepted a change")
    assert len(t.entries) == 2


def test_sub_control_instances(tmp_path):
    from emu_helpers import program_text

    text = program_text(apply="m1.apply(hdr, md.a); m2.apply(hdr, md.b); hdr.data.c = md.a ++ md.b;",
                        locals="Module() m1; Module() m2;")
    module = """
control Module(inout headers_t hdr, out bit<8> seen) {
    action set_a(bit<8> v) { hdr.data.a = v; }
    table sid { key = { hdr.data.b : exact; } actions = { set_a; NoAction; } default_action = NoAction; }
    apply { seen = hdr.data.a; sid.apply(); }
}
"""
    text = text.replace("parser IgParser", module + "\nparser IgParser", 1)
    path = tmp_path / "nested.p4"
    path.write_text(text)
    p = Pipeline.from_file(path)
    assert set(p.tables) == {"pipe.Ig.m1.sid", "pipe.Ig.m2.sid"}
    p.table("Ig.m1.sid").insert([5], "Ig.m1.set_a", {"v": 0x11})
    p.table("Ig.m2.sid").insert([5], "Ig.m2.set_a", {"v": 0x22})
    assert run_data(p, 1, 5) == (0x22, 5, 0x0111, 0)


def test_field_names_that_are_python_keywords(build):
    p = build(
        target_model="none",  # a three-field register cell runs here; a Tofino 1 refuses it (test_target_salu)
        types="""
            struct cls_t { bit<8> class; bit<8> from; bit<8> _v; }
            header kw_h { bit<8> lambda; bit<8> pass; }
        """,
        locals="""
            Register<cls_t, bit<4>>(4) reg;
            RegisterAction<cls_t, bit<4>, bit<8>>(reg) upd = {
                void apply(inout cls_t value, out bit<8> rv) { value.class = value.class + 1; rv = value.class; }
            };
        """,
        apply="""
            cls_t c = {hdr.data.a, 8w2, 8w3};
            c.from = c.class + c.from + c._v;
            hdr.data.b = c.from;
            hdr.data.c = (bit<16>) upd.execute(1);
        """,
    )
    assert run_data(p, 10) == (10, 15, 1, 0)
    assert p.register("reg").read(1) == (1, 0, 0)


def test_tm_decisions_bypass_egress_drops_and_no_port(build):
    p = build(
        apply="""
            if (hdr.data.a == 1) { ig_tm_md.bypass_egress = 1; }
            if (hdr.data.a == 2) { ig_dprsr_md.drop_ctl = 1; }
            ig_tm_md.qid = 5;
        """,
        egress="hdr.data.b = 0xEE; if (hdr.data.a == 3) { eg_dprsr_md.drop_ctl = 1; }",
    )
    assert run_data(p, 1) == (1, 0, 0, 0)  # egress skipped: b untouched
    assert run_data(p, 0) == (0, 0xEE, 0, 0)
    assert p.process(0, data_frame(0))[0].qid == 5
    assert p.process(0, data_frame(2)) == [] and p.stats["drop_ctl_ingress"] == 1
    assert p.process(0, data_frame(3)) == [] and p.stats["drop_ctl_egress"] == 1


def test_no_egress_port_means_drop(tmp_path):
    from emu_helpers import program_text

    text = program_text().replace("        ig_tm_md.ucast_egress_port = 1;\n", "")
    path = tmp_path / "noport.p4"
    path.write_text(text)
    p = Pipeline.from_file(path)
    assert p.process(0, data_frame()) == []
    assert p.stats["drop_no_egress_port"] == 1


def test_switch_on_bit_value_and_exit_in_action(build):
    p = build(
        locals="action stop() { hdr.data.d = 1; exit; }",
        apply="""
            switch (hdr.data.a) {
                1: { hdr.data.b = 10; }
                2:
                3: { hdr.data.b = 20; }
                default: { hdr.data.b = 30; }
            }
            if (hdr.data.a == 9) { stop(); }
            hdr.data.c = 7;
        """,
    )
    assert [run_data(p, a)[1] for a in (1, 2, 3, 4)] == [10, 20, 20, 30]
    assert run_data(p, 9) == (9, 30, 0, 1)  # exit inside the action skipped the rest of apply


def test_table_size_is_enforced(build):
    from srchain_emu.interp.runtime import TableFull

    p = build(locals="""
        action a() {}
        table t { key = { hdr.data.a : exact; } actions = { a; } size = 2; }
    """, apply="t.apply();")
    t = p.table("t")
    t.insert([1], "Ig.a", {})
    t.insert([2], "Ig.a", {})
    try:
        t.insert([3], "Ig.a", {})
    except TableFull as exc:
        assert "is full (2 entries)" in str(exc)
    else:
        raise AssertionError("table accepted more entries than its size")
    assert sorted(k[0] for k in t.entries) == [1, 2]


def test_serializable_enum_fields_in_headers(build):
    p = build(
        types="""
            enum bit<8> Kind { DATA = 1, REPORT = 2 }
            header tag_h { Kind kind; bit<8> pad; }
        """,
        apply="""
            if (hdr.data.a == 1) { hdr.data.b = (bit<8>) Kind.REPORT; }
            Kind k = (Kind) hdr.data.a;
            if (k == Kind.DATA) { hdr.data.c = 0x1111; }
        """,
    )
    assert run_data(p, 1) == (1, 2, 0x1111, 0)
    assert run_data(p, 2) == (2, 0, 0, 0)


def test_egress_port_set_through_an_out_parameter(tmp_path):
    from emu_helpers import program_text

    text = program_text(
        locals="action pick(out PortId_t p) { p = 6; }",
        apply="pick(ig_tm_md.ucast_egress_port);",
    ).replace("        ig_tm_md.ucast_egress_port = 1;\n", "")
    path = tmp_path / "outport.p4"
    path.write_text(text)
    assert [o.port for o in Pipeline.from_file(path).process(0, data_frame())] == [6]


def test_each_packet_starts_from_fresh_headers_and_metadata(build):
    # The drivers reset the per-packet objects field by field: nothing the first packet wrote (metadata,
    # a stack element, a header made valid) may show in the second.
    p = build(apply="""
        if (hdr.data.a == 1) {
            md.x = 0xdeadbeef; md.flag = true; md.c = 0x1234;
            hdr.mpls[2].setValid(); hdr.mpls[2].ttl = 77;
            hdr.ipv4.setValid(); hdr.ipv4.ttl = 9;
        } else {
            hdr.data.d = md.x;
            hdr.data.c = md.c;
            hdr.data.b = hdr.mpls[2].ttl + hdr.ipv4.ttl + (md.flag ? 8w1 : 8w0)
                         + (hdr.mpls[2].isValid() ? 8w2 : 8w0) + (hdr.ipv4.isValid() ? 8w4 : 8w0);
        }
    """)
    first = p.process(0, data_frame(1))
    assert len(first) == 1 and len(first[0].frame) == len(data_frame(1)) + 4 + 20  # mpls[2] and ipv4 emitted
    assert run_data(p, 2, 0xFF, 0xFFFF, 0xFFFFFFFF) == (2, 0, 0, 0)
