/* PRE test program: every packet is unicast to port 1 AND replicated to the multicast group its tag names
 * (ig_tm_md.mcast_grp_a; 0 = none); egress stamps eg_intr_md.egress_rid (0 on the unicast copy, the node's
 * RID on a multicast copy) and the egress port into the tag. tag.drop == 1 sets drop_ctl (drops all copies). */
#include <core.p4>
#include <tna.p4>
#include "common_headers.p4"

const bit<16> ETHERTYPE_TAG = 0x88b5;

header tag_h {
    bit<16> mgid;   // -> ig_tm_md.mcast_grp_a
    bit<16> xid;    // -> ig_tm_md.level1_exclusion_id
    bit<8> drop;    // 1: ig_dprsr_md.drop_ctl = 1
    bit<8> port;    // <- eg_intr_md.egress_port (low 8 bits)
    bit<16> rid;    // <- eg_intr_md.egress_rid
}

struct headers_t {
    ethernet_h ethernet;
    tag_h tag;
}

struct metadata_t {}

parser SwitchIngressParser(packet_in pkt, out headers_t hdr, out metadata_t ig_md,
                           out ingress_intrinsic_metadata_t ig_intr_md) {
    TofinoIngressParser() tofino_parser;
    state start {
        tofino_parser.apply(pkt, ig_intr_md);
        pkt.extract(hdr.ethernet);
        transition select(hdr.ethernet.ether_type) {
            ETHERTYPE_TAG : parse_tag;
            default : accept;
        }
    }
    state parse_tag {
        pkt.extract(hdr.tag);
        transition accept;
    }
}

control SwitchIngress(inout headers_t hdr, inout metadata_t ig_md,
                      in ingress_intrinsic_metadata_t ig_intr_md,
                      in ingress_intrinsic_metadata_from_parser_t ig_prsr_md,
                      inout ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md,
                      inout ingress_intrinsic_metadata_for_tm_t ig_tm_md) {
    apply {
        ig_tm_md.ucast_egress_port = 1;
        if (hdr.tag.isValid()) {
            ig_tm_md.mcast_grp_a = hdr.tag.mgid;
            ig_tm_md.level1_exclusion_id = hdr.tag.xid;
            if (hdr.tag.drop == 1) {
                ig_dprsr_md.drop_ctl = 1;
            }
        }
    }
}

control SwitchIngressDeparser(packet_out pkt, inout headers_t hdr, in metadata_t ig_md,
                              in ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md) {
    apply {
        pkt.emit(hdr);
    }
}

parser SwitchEgressParser(packet_in pkt, out headers_t hdr, out metadata_t eg_md,
                          out egress_intrinsic_metadata_t eg_intr_md) {
    TofinoEgressParser() tofino_parser;
    state start {
        tofino_parser.apply(pkt, eg_intr_md);
        pkt.extract(hdr.ethernet);
        transition select(hdr.ethernet.ether_type) {
            ETHERTYPE_TAG : parse_tag;
            default : accept;
        }
    }
    state parse_tag {
        pkt.extract(hdr.tag);
        transition accept;
    }
}

control SwitchEgress(inout headers_t hdr, inout metadata_t eg_md,
                     in egress_intrinsic_metadata_t eg_intr_md,
                     in egress_intrinsic_metadata_from_parser_t eg_prsr_md,
                     inout egress_intrinsic_metadata_for_deparser_t eg_dprsr_md,
                     inout egress_intrinsic_metadata_for_output_port_t eg_oport_md) {
    apply {
        if (hdr.tag.isValid()) {
            hdr.tag.rid = eg_intr_md.egress_rid;
            hdr.tag.port = eg_intr_md.egress_port[7:0];
        }
    }
}

control SwitchEgressDeparser(packet_out pkt, inout headers_t hdr, in metadata_t eg_md,
                             in egress_intrinsic_metadata_for_deparser_t eg_dprsr_md) {
    apply {
        pkt.emit(hdr);
    }
}

Pipeline(SwitchIngressParser(), SwitchIngress(), SwitchIngressDeparser(),
         SwitchEgressParser(), SwitchEgress(), SwitchEgressDeparser()) pipe;

Switch(pipe) main;
