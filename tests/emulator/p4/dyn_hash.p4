// Dynamic hashing (tests/emulator/test_dyn_hashing.py): a CRC64 Hash of which the program reads bits [31:0],
// whose `.configure` / `.algorithm` / `.compute` tables the control plane drives, and an ActionSelector
// picking on those 32 bits (its `_get_member` table). Like the SDE's tna_dyn_hashing, in miniature.
#include <core.p4>
#include <tna.p4>

header ethernet_h { bit<48> dst_addr; bit<48> src_addr; bit<16> ether_type; }
header flow_h { bit<32> a; bit<32> b; bit<16> c; bit<16> d; bit<32> h; }
struct headers_t { ethernet_h ethernet; flow_h flow; }
struct md_t { }

parser IgParser(packet_in pkt, out headers_t hdr, out md_t md, out ingress_intrinsic_metadata_t ig_intr_md) {
    state start {
        pkt.extract(ig_intr_md);
        pkt.advance(PORT_METADATA_SIZE);
        pkt.extract(hdr.ethernet);
        pkt.extract(hdr.flow);
        transition accept;
    }
}

control Ig(inout headers_t hdr, inout md_t md, in ingress_intrinsic_metadata_t ig_intr_md,
           in ingress_intrinsic_metadata_from_parser_t ig_prsr_md,
           inout ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md,
           inout ingress_intrinsic_metadata_for_tm_t ig_tm_md) {
    Hash<bit<64>>(HashAlgorithm_t.CRC64) flow_hash;
    Hash<bit<32>>(HashAlgorithm_t.IDENTITY) sel_hash;
    ActionProfile(16) members;
    ActionSelector(members, sel_hash, SelectorMode_t.FAIR, 8, 4) spread;

    action take_hash() { hdr.flow.h = flow_hash.get({hdr.flow.a, hdr.flow.b, hdr.flow.c, hdr.flow.d})[31:0]; }
    table hashing { actions = { take_hash; } const default_action = take_hash(); size = 1; }

    action to_port(PortId_t port) { ig_tm_md.ucast_egress_port = port; }
    table fwd {
        key = { ig_intr_md.ingress_port : exact; hdr.flow.h : selector; }
        actions = { to_port; }
        size = 16;
        implementation = spread;
    }

    apply {
        ig_tm_md.ucast_egress_port = 1;  // a miss of fwd still sends the packet (to read the hash)
        hashing.apply();
        fwd.apply();
        ig_tm_md.bypass_egress = 1;
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
