// @symmetric cross-check against bf-p4c (tests/emulator/test_symmetric_hash.py): six Hash.get results written
// into a trailing `res` header. Compiled unchanged with bf-p4c 1.2.5.16 (`bf-p4c-run -o OUT symmetric_hash.p4`);
// the expected values in the test come from the hash matrices and seeds bfas programs for it (see the test).
// Each get sits under its own `if`, so that each action takes at most 32 bits of hash (bf-p4c's immediate path).
#include <core.p4>
#include <tna.p4>

header ethernet_h { bit<48> dst_addr; bit<48> src_addr; bit<16> ether_type; }
header ipv4_h {
    bit<4> version; bit<4> ihl; bit<8> diffserv; bit<16> total_len;
    bit<16> identification; bit<3> flags; bit<13> frag_offset;
    bit<8> ttl; bit<8> protocol; bit<16> hdr_checksum;
    bit<32> src_addr; bit<32> dst_addr;
}
header udp_h { bit<16> src_port; bit<16> dst_port; bit<16> len; bit<16> checksum; }
header res_h { bit<32> r1; bit<16> r2; bit<16> r3; bit<32> r4; bit<32> r5; bit<32> r6; }
struct headers_t { ethernet_h ethernet; ipv4_h ipv4; udp_h udp; res_h res; }
struct md_t { }

parser IgParser(packet_in pkt, out headers_t hdr, out md_t md, out ingress_intrinsic_metadata_t ig_intr_md) {
    state start {
        pkt.extract(ig_intr_md);
        pkt.advance(PORT_METADATA_SIZE);
        pkt.extract(hdr.ethernet);
        pkt.extract(hdr.ipv4);
        pkt.extract(hdr.udp);
        pkt.extract(hdr.res);
        transition accept;
    }
}

control Ig(inout headers_t hdr, inout md_t md, in ingress_intrinsic_metadata_t ig_intr_md,
           in ingress_intrinsic_metadata_from_parser_t ig_prsr_md,
           inout ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md,
           inout ingress_intrinsic_metadata_for_tm_t ig_tm_md) {
    // h1: plain CRC32 over the 5-tuple-ish list
    Hash<bit<32>>(HashAlgorithm_t.CRC32) h1;
    // h2: plain CRC16
    Hash<bit<16>>(HashAlgorithm_t.CRC16) h2;
    // h3: CRC16 symmetric on the addresses, protocol after them
    @symmetric("hdr.ipv4.src_addr", "hdr.ipv4.dst_addr")
    Hash<bit<16>>(HashAlgorithm_t.CRC16) h3;
    // h4: CRC32 over 20 bits (3 + 13 + 4): not a whole number of bytes
    Hash<bit<32>>(HashAlgorithm_t.CRC32) h4;
    // h5: CRC32, symmetric pair named in the other order with a field between them
    @symmetric("hdr.udp.dst_port", "hdr.udp.src_port")
    Hash<bit<32>>(HashAlgorithm_t.CRC32) h5;
    // h6: CRC32 symmetric on a 4-bit pair (version, ihl) around diffserv
    @symmetric("hdr.ipv4.version", "hdr.ipv4.ihl")
    Hash<bit<32>>(HashAlgorithm_t.CRC32) h6;

    apply {
        if (hdr.res.isValid()) { hdr.res.r1 = h1.get({hdr.ipv4.src_addr, hdr.ipv4.dst_addr, hdr.ipv4.protocol, hdr.udp.src_port, hdr.udp.dst_port}); }
        if (hdr.res.isValid()) { hdr.res.r2 = h2.get({hdr.ipv4.src_addr, hdr.ipv4.dst_addr, hdr.ipv4.protocol, hdr.udp.src_port, hdr.udp.dst_port}); }
        if (hdr.res.isValid()) { hdr.res.r3 = h3.get({hdr.ipv4.src_addr, hdr.ipv4.dst_addr, hdr.ipv4.protocol}); }
        if (hdr.res.isValid()) { hdr.res.r4 = h4.get({hdr.ipv4.flags, hdr.ipv4.frag_offset, hdr.ipv4.ttl[3:0]}); }
        if (hdr.res.isValid()) { hdr.res.r5 = h5.get({hdr.udp.src_port, hdr.ipv4.ttl, hdr.udp.dst_port}); }
        if (hdr.res.isValid()) { hdr.res.r6 = h6.get({hdr.ipv4.version, hdr.ipv4.diffserv, hdr.ipv4.ihl}); }
        ig_tm_md.ucast_egress_port = 1;
    }
}

control IgDeparser(packet_out pkt, inout headers_t hdr, in md_t md, in ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md) {
    apply { pkt.emit(hdr); }
}

parser EgParser(packet_in pkt, out headers_t hdr, out md_t md, out egress_intrinsic_metadata_t eg_intr_md) {
    state start { pkt.extract(eg_intr_md); transition accept; }
}
control Eg(inout headers_t hdr, inout md_t md, in egress_intrinsic_metadata_t eg_intr_md,
           in egress_intrinsic_metadata_from_parser_t eg_prsr_md,
           inout egress_intrinsic_metadata_for_deparser_t eg_dprsr_md,
           inout egress_intrinsic_metadata_for_output_port_t eg_oport_md) { apply { } }
control EgDeparser(packet_out pkt, inout headers_t hdr, in md_t md, in egress_intrinsic_metadata_for_deparser_t eg_dprsr_md) {
    apply { pkt.emit(hdr); }
}

Pipeline(IgParser(), Ig(), IgDeparser(), EgParser(), Eg(), EgDeparser()) pipe;
Switch(pipe) main;
