"""TNA externs: Register/RegisterAction, Hash, Counter, DirectCounter, Digest, Mirror, Checksum."""

from __future__ import annotations

import binascii

from emu_helpers import data_fields, data_frame
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from srchain_emu.interp import runtime as R
from srchain_emu.interp.pipeline import Pipeline


def crc16_arc_bitwise(data: bytes) -> int:
    """Independent reference: bit-at-a-time CRC-16/ARC (poly 0x8005 reflected)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def test_crc16_known_answer():
    assert R.crc16(b"123456789") == 0xBB3D  # the CRC-16/ARC check value
    assert R.crc32(b"123456789") == 0xCBF43926


def test_hash_extern_crc16_crc32_identity(build):
    # three hashes in one synthesized action: the emulator's values, beyond a Tofino's 32 immediate bits
    p = build(
        target_model="none",
        locals="""
            Hash<bit<16>>(HashAlgorithm_t.CRC16) h16;
            Hash<bit<32>>(HashAlgorithm_t.CRC32) h32;
            Hash<bit<8>>(HashAlgorithm_t.IDENTITY) hid;
        """,
        apply="""
            hdr.data.c = h16.get({hdr.data.a, hdr.data.b, hdr.data.d});
            hdr.data.d = h32.get({hdr.data.a, hdr.data.b});
            hdr.data.a = hid.get({hdr.data.b, hdr.data.a});
        """,
    )
    a, b, d = 0x12, 0x34, 0xDEADBEEF
    out = data_fields(p.process(0, data_frame(a, b, 0, d))[0].frame)
    assert out[2] == crc16_arc_bitwise(bytes([a, b]) + d.to_bytes(4, "big"))
    assert out[3] == binascii.crc32(bytes([a, b]))
    assert out[0] == a  # identity of (b ++ a) truncated to 8 bits


def test_register_action_counts_per_index_and_control_plane_reads(build):
    p = build(
        locals="""
            Register<bit<16>, bit<8>>(32, 5) reg;
            RegisterAction<bit<16>, bit<8>, bit<16>>(reg) bump = {
                void apply(inout bit<16> value, out bit<16> rv) {
                    rv = value;
                    if (value < 7) { value = value + 1; }
                }
            };
        """,
        apply="hdr.data.c = bump.execute(hdr.data.a);",
    )
    seen = [data_fields(p.process(0, data_frame(3))[0].frame)[2] for _ in range(4)]
    assert seen == [5, 6, 7, 7]  # initial value 5, saturates at 7
    reg = p.register("reg")
    assert reg.read(3) == (7,) and reg.read(4) == (5,)
    reg.write(4, (1000,))
    assert data_fields(p.process(0, data_frame(4))[0].frame)[2] == 1000


def test_register_of_struct_pairs(build):
    p = build(
        types="struct pair_t { bit<16> lo; bit<16> hi; }",
        locals="""
            Register<pair_t, bit<4>>(16) reg;
            RegisterAction<pair_t, bit<4>, bit<16>>(reg) upd = {
                void apply(inout pair_t value, out bit<16> rv) {
                    value.lo = value.lo + 1;
                    value.hi = value.hi + 2;
                    rv = value.hi;
                }
            };
        """,
        apply="hdr.data.c = upd.execute(hdr.data.a[3:0]);",
    )
    for _ in range(3):
        p.process(0, data_frame(0x21))
    assert p.register("reg").read(1) == (3, 6)


def test_indirect_and_direct_counters(build):
    p = build(
        locals="""
            Counter<bit<32>, bit<8>>(16, CounterType_t.PACKETS_AND_BYTES) cnt;
            DirectCounter<bit<32>>(CounterType_t.PACKETS_AND_BYTES) dc;
            action hit() { dc.count(); }
            table t { key = { hdr.data.a : exact; } actions = { hit; } default_action = hit; counters = dc; }
        """,
        apply="cnt.count(hdr.data.a); t.apply();",
    )
    t = p.table("t")
    entry = t.insert([1], "Ig.hit", {})
    frame = data_frame(1)
    for _ in range(3):
        p.process(0, frame)
    p.process(0, data_frame(2))
    c = p.counter("cnt")
    # byte counters count the 4-byte FCS a Tofino sees on the wire and the frame here lacks
    assert (c.pkts[1], c.bytes[1]) == (3, 3 * (len(frame) + 4))
    assert (entry.pkts, entry.bytes) == (3, 3 * (len(frame) + 4))
    assert t.default.pkts == 1


def test_digest_from_deparser(build):
    p = build(
        types="struct learn_t { bit<8> a; bit<16> c; }",
        apply="if (hdr.data.a == 1) { ig_dprsr_md.digest_type = 1; }",
        deparser_locals="Digest<learn_t>() learn;",
        deparser="if (ig_dprsr_md.digest_type == 1) { learn.pack({hdr.data.a, hdr.data.c}); }",
    )
    p.process(0, data_frame(1, 0, 0x1234))
    p.process(0, data_frame(2, 0, 0x5678))
    assert [(d.name, d.fields) for d in p.take_digests()] == [
        ("pipe.IgDeparser.learn", {"a": 1, "c": 0x1234})
    ]
    assert p.take_digests() == []


def test_mirror_i2e_with_session_and_truncation(build):
    p = build(
        types="header mirror_h { bit<8> kind; bit<8> tag; }",
        apply="if (hdr.data.a == 1) { ig_dprsr_md.mirror_type = 1; md.a = 0xEE; md.b = 0x77; md.c = 5; }",
        deparser_locals="Mirror() mirror;",
        deparser="if (ig_dprsr_md.mirror_type == 1) { mirror.emit<mirror_h>(md.c[9:0], {md.a, md.b}); }",
    )
    frame = data_frame(1, tail=b"x" * 40)
    assert len(p.process(0, frame)) == 1
    assert p.stats["mirror_no_session"] == 1  # no session configured: only the original goes out
    p.mirror_sessions[5] = R.MirrorSession(egress_port=9, max_pkt_len=20)
    out = p.process(0, frame)
    assert [o.port for o in out] == [1, 9]
    assert out[1].frame == (b"\xee\x77" + frame)[:20]


def test_ipv4_checksum_verify_and_update(tmp_path):
    from emu_helpers import program_text

    parser = """
    state parse_ethernet {
        pkt.extract(hdr.ethernet);
        transition select(hdr.ethernet.ether_type) { 0x0800: parse_ipv4; default: accept; }
    }
    state parse_ipv4 {
        pkt.extract(hdr.ipv4);
        ck.add(hdr.ipv4);
        md.flag = ck.verify();  // the error bit
        transition accept;
    }
    """
    text = program_text(
        parser=parser,
        apply="if (md.flag) { ig_dprsr_md.drop_ctl = 1; } hdr.ipv4.ttl = hdr.ipv4.ttl - 1;",
        deparser_locals="Checksum() upd;",
        deparser="""hdr.ipv4.hdr_checksum = upd.update({hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.diffserv,
            hdr.ipv4.total_len, hdr.ipv4.identification, hdr.ipv4.flags, hdr.ipv4.frag_offset,
            hdr.ipv4.ttl, hdr.ipv4.protocol, hdr.ipv4.src_addr, hdr.ipv4.dst_addr});""",
    ).replace("parser IgParser(packet_in pkt, out headers_t hdr, out metadata_t md, out ingress_intrinsic_metadata_t "
              "ig_intr_md) {", "parser IgParser(packet_in pkt, out headers_t hdr, out metadata_t md, "
              "out ingress_intrinsic_metadata_t ig_intr_md) {\n    Checksum() ck;")
    path = tmp_path / "ck.p4"
    path.write_text(text)
    p = Pipeline.from_file(path)
    pkt = Ether() / IP(src="10.0.0.1", dst="10.0.0.2", ttl=64) / UDP(sport=1, dport=2) / b"hello"
    out = p.process(0, pkt.build())
    assert len(out) == 1
    got = IP(out[0].frame[14:])
    assert got.ttl == 63
    expect = IP(src="10.0.0.1", dst="10.0.0.2", ttl=63) / UDP(sport=1, dport=2) / b"hello"
    assert got.chksum == IP(expect.build()).chksum
    bad = bytearray(pkt.build())
    bad[14 + 10] ^= 0x55  # corrupt the checksum
    assert p.process(0, bytes(bad)) == []
    assert p.stats["drop_ctl_ingress"] == 1
