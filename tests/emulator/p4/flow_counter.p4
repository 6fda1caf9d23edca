/* Conformance program 2: per-flow packet counter in a register (CRC16 hash index); the first packet of a
 * flow and every THRESHOLD-th packet raise a digest to the control plane. */
#include <core.p4>
#include <tna.p4>
#include "common_headers.p4"

#define FLOW_SLOTS 4096
const bit<32> THRESHOLD = 4;

struct headers_t {
    ethernet_h ethernet;
    ipv4_h ipv4;
    udp_h udp;
}

struct metadata_t {
    bit<12> flow_index;
    bit<32> flow_count;
    bit<16> l4_src;
    bit<16> l4_dst;
    bool checksum_err;
}

struct flow_digest_t {
    ipv4_addr_t src_addr;
    ipv4_addr_t dst_addr;
    bit<16> src_port;
    bit<16> dst_port;
    bit<32> count;
}

parser SwitchIngressParser(
        packet_in pkt,
        out headers_t hdr,
        out metadata_t ig_md,
        out ingress_intrinsic_metadata_t ig_intr_md) {
    TofinoIngressParser() tofino_parser;
    Checksum() ipv4_checksum;

    state start {
        tofino_parser.apply(pkt, ig_intr_md);
        transition parse_ethernet;
    }
    state parse_ethernet {
        pkt.extract(hdr.ethernet);
        transition select(hdr.ethernet.ether_type) {
            ETHERTYPE_IPV4 : parse_ipv4;
            default : reject;
        }
    }
    state parse_ipv4 {
        pkt.extract(hdr.ipv4);
        ipv4_checksum.add(hdr.ipv4);
        ig_md.checksum_err = ipv4_checksum.verify();  /* the error bit, as SDE tna_checksum.p4 reads it */
        transition select(hdr.ipv4.ihl, hdr.ipv4.protocol) {
            (5, 17) : parse_udp;
            (5, _) : accept;
            default : reject;
        }
    }
    state parse_udp {
        pkt.extract(hdr.udp);
        ig_md.l4_src = hdr.udp.src_port;
        ig_md.l4_dst = hdr.udp.dst_port;
        transition accept;
    }
}

control SwitchIngress(
        inout headers_t hdr,
        inout metadata_t ig_md,
        in ingress_intrinsic_metadata_t ig_intr_md,
        in ingress_intrinsic_metadata_from_parser_t ig_intr_md_from_prsr,
        inout ingress_intrinsic_metadata_for_deparser_t ig_intr_md_for_dprsr,
        inout ingress_intrinsic_metadata_for_tm_t ig_intr_md_for_tm) {

    Hash<bit<12>>(HashAlgorithm_t.CRC16) flow_hash;
    Register<bit<32>, bit<12>>(FLOW_SLOTS, 0) flow_packets;
    RegisterAction<bit<32>, bit<12>, bit<32>>(flow_packets) count_packet = {
        void apply(inout bit<32> value, out bit<32> rv) {
            value = value + 1;
            rv = value;
        }
    };

    action set_port(PortId_t port) {
        ig_intr_md_for_tm.ucast_egress_port = port;
    }

    table route {
        key = { hdr.ipv4.dst_addr : lpm; }
        actions = { set_port; NoAction; }
        default_action = NoAction();
        size = 256;
    }

    apply {
        if (ig_md.checksum_err) {
            ig_intr_md_for_dprsr.drop_ctl = 1;  /* bad IPv4 checksum */
        } else if (hdr.ipv4.isValid()) {
            ig_md.flow_index = flow_hash.get({hdr.ipv4.src_addr, hdr.ipv4.dst_addr, hdr.ipv4.protocol,
                                              ig_md.l4_src, ig_md.l4_dst});
            ig_md.flow_count = count_packet.execute(ig_md.flow_index);
            if (ig_md.flow_count == 1 || ig_md.flow_count % THRESHOLD == 0) {
                ig_intr_md_for_dprsr.digest_type = 1;
            }
            route.apply();
        }
    }
}

control SwitchIngressDeparser(
        packet_out pkt,
        inout headers_t hdr,
        in metadata_t ig_md,
        in ingress_intrinsic_metadata_for_deparser_t ig_intr_md_for_dprsr) {
    Digest<flow_digest_t>() flow_digest;
    apply {
        if (ig_intr_md_for_dprsr.digest_type == 1) {
            flow_digest.pack({hdr.ipv4.src_addr, hdr.ipv4.dst_addr, ig_md.l4_src, ig_md.l4_dst,
                              ig_md.flow_count});
        }
        pkt.emit(hdr);
    }
}

parser SwitchEgressParser(
        packet_in pkt,
        out headers_t hdr,
        out metadata_t eg_md,
        out egress_intrinsic_metadata_t eg_intr_md) {
    TofinoEgressParser() tofino_parser;
    state start {
        tofino_parser.apply(pkt, eg_intr_md);
        transition accept;
    }
}

control SwitchEgress(
        inout headers_t hdr,
        inout metadata_t eg_md,
        in egress_intrinsic_metadata_t eg_intr_md,
        in egress_intrinsic_metadata_from_parser_t eg_intr_md_from_prsr,
        inout egress_intrinsic_metadata_for_deparser_t eg_intr_md_for_dprsr,
        inout egress_intrinsic_metadata_for_output_port_t eg_intr_md_for_oport) {
    apply {}
}

control SwitchEgressDeparser(
        packet_out pkt,
        inout headers_t hdr,
        in metadata_t eg_md,
        in egress_intrinsic_metadata_for_deparser_t eg_intr_md_for_dprsr) {
    apply { pkt.emit(hdr); }
}

Pipeline(SwitchIngressParser(), SwitchIngress(), SwitchIngressDeparser(),
         SwitchEgressParser(), SwitchEgress(), SwitchEgressDeparser()) pipe;
Switch(pipe) main;
