/* Benchmark program: five tables in ingress (exact, exact, lpm, ternary, exact) over eth/ipv4/udp. */
#include <core.p4>
#include <tna.p4>
#include "common_headers.p4"

struct headers_t {
    ethernet_h ethernet;
    ipv4_h ipv4;
    udp_h udp;
}

struct metadata_t {
    bit<16> bd;
    bit<16> nexthop;
    bit<1> acl_drop;
}

parser SwitchIngressParser(packet_in pkt, out headers_t hdr, out metadata_t ig_md,
                           out ingress_intrinsic_metadata_t ig_intr_md) {
    TofinoIngressParser() tofino_parser;
    state start {
        tofino_parser.apply(pkt, ig_intr_md);
        transition parse_ethernet;
    }
    state parse_ethernet {
        pkt.extract(hdr.ethernet);
        transition select(hdr.ethernet.ether_type) {
            ETHERTYPE_IPV4 : parse_ipv4;
            default : accept;
        }
    }
    state parse_ipv4 {
        pkt.extract(hdr.ipv4);
        transition select(hdr.ipv4.protocol) {
            17 : parse_udp;
            default : accept;
        }
    }
    state parse_udp {
        pkt.extract(hdr.udp);
        transition accept;
    }
}

control SwitchIngress(inout headers_t hdr, inout metadata_t ig_md, in ingress_intrinsic_metadata_t ig_intr_md,
                      in ingress_intrinsic_metadata_from_parser_t ig_prsr_md,
                      inout ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md,
                      inout ingress_intrinsic_metadata_for_tm_t ig_tm_md) {
    action set_bd(bit<16> bd) { ig_md.bd = bd; }
    action drop() { ig_dprsr_md.drop_ctl = 1; }
    action set_nexthop(bit<16> nexthop) { ig_md.nexthop = nexthop; }
    action forward(PortId_t port, mac_addr_t dmac) {
        ig_tm_md.ucast_egress_port = port;
        hdr.ethernet.dst_addr = dmac;
        hdr.ipv4.ttl = hdr.ipv4.ttl - 1;
    }
    action acl_deny() { ig_md.acl_drop = 1; }
    action set_qid(QueueId_t qid) { ig_tm_md.qid = qid; }

    table port_bd {
        key = { ig_intr_md.ingress_port : exact; }
        actions = { set_bd; drop; }
        default_action = drop;
        size = 512;
    }
    table dmac_check {
        key = { ig_md.bd : exact; hdr.ethernet.dst_addr : exact; }
        actions = { NoAction; drop; }
        default_action = drop;
        size = 4096;
    }
    table route {
        key = { hdr.ipv4.dst_addr : lpm; }
        actions = { set_nexthop; drop; }
        default_action = drop;
        size = 16384;
    }
    table nexthop {
        key = { ig_md.nexthop : exact; }
        actions = { forward; drop; }
        default_action = drop;
        size = 4096;
    }
    table acl {
        key = {
            hdr.ipv4.src_addr : ternary;
            hdr.ipv4.protocol : ternary;
            hdr.udp.dst_port : ternary;
        }
        actions = { acl_deny; set_qid; NoAction; }
        default_action = NoAction;
        size = 1024;
    }

    apply {
        port_bd.apply();
        if (hdr.ipv4.isValid()) {
            dmac_check.apply();
            route.apply();
            nexthop.apply();
            acl.apply();
            if (ig_md.acl_drop == 1) {
                ig_dprsr_md.drop_ctl = 1;
            }
        }
    }
}

control SwitchIngressDeparser(packet_out pkt, inout headers_t hdr, in metadata_t ig_md,
                              in ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md) {
    apply { pkt.emit(hdr); }
}

parser SwitchEgressParser(packet_in pkt, out headers_t hdr, out metadata_t eg_md,
                          out egress_intrinsic_metadata_t eg_intr_md) {
    TofinoEgressParser() tofino_parser;
    state start {
        tofino_parser.apply(pkt, eg_intr_md);
        transition accept;
    }
}

control SwitchEgress(inout headers_t hdr, inout metadata_t eg_md, in egress_intrinsic_metadata_t eg_intr_md,
                     in egress_intrinsic_metadata_from_parser_t eg_prsr_md,
                     inout egress_intrinsic_metadata_for_deparser_t eg_dprsr_md,
                     inout egress_intrinsic_metadata_for_output_port_t eg_oport_md) {
    apply {}
}

control SwitchEgressDeparser(packet_out pkt, inout headers_t hdr, in metadata_t eg_md,
                             in egress_intrinsic_metadata_for_deparser_t eg_dprsr_md) {
    apply { pkt.emit(hdr); }
}

Pipeline(SwitchIngressParser(), SwitchIngress(), SwitchIngressDeparser(),
         SwitchEgressParser(), SwitchEgress(), SwitchEgressDeparser()) pipe;
Switch(pipe) main;
