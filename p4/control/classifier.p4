/* Classifier: plain IPv4 traffic that matches a rule gets its chain's label stack pushed.
 * Table SwitchIngress.classifier.rules (ternary 5-tuple, ingress port, load-balancing bucket; the
 * BF Runtime $MATCH_PRIORITY orders overlapping rules) -> push_<n>(ttl, label_0 (top) .. label_<n-1>);
 * profile srv6: encaps_<n> / encaps_red_<n>(hop_limit, src_addr, sid_0 (first) .. sid_<n-1>), H.Encaps(.Red)
 * (include/srv6_encap.p4) with traffic class and flow label 0, as Linux's seg6 encap writes them for an IPv4
 * packet (tests/p4/test_srv6_linux_netns.py compares the two byte for byte). */
#ifndef _SRCHAIN_CLASSIFIER_P4_
#define _SRCHAIN_CLASSIFIER_P4_

#include "../include/label_stack.p4"
#if SRCHAIN_WAN
/* profile wan: the bytes an MPLS-in-UDP encapsulation will carry grow by the labels pushed (control/wan.p4) */
#define WAN_PUSHED(n) ig_md.wan.inner_len = ig_md.wan.inner_len + 4 * n;
#else
#define WAN_PUSHED(n)
#endif
#if SRCHAIN_SRV6
#include "../include/srv6_encap.p4"
#endif

control Classifier(
        inout headers_t hdr,
        inout ingress_metadata_t ig_md,
        in ingress_intrinsic_metadata_t ig_intr_md) {
    DirectCounter<bit<32>>(CounterType_t.PACKETS_AND_BYTES) rule_counter;

#if SRCHAIN_SRV6
    action encaps_1(bit<8> hop_limit, ipv6_addr_t src_addr, ipv6_addr_t sid_0) {
        SRV6_OUTER(hdr.ipv4.total_len + 24, IP_PROTO_ROUTING, 0)
        SRV6_SRH(1, 0) SRV6_SEGMENT(0, sid_0)
        rule_counter.count();
    }
    action encaps_2(bit<8> hop_limit, ipv6_addr_t src_addr, ipv6_addr_t sid_0, ipv6_addr_t sid_1) {
        SRV6_OUTER(hdr.ipv4.total_len + 40, IP_PROTO_ROUTING, 0)
        SRV6_SRH(2, 1) SRV6_SEGMENT(0, sid_1) SRV6_SEGMENT(1, sid_0)
        rule_counter.count();
    }
    action encaps_3(bit<8> hop_limit, ipv6_addr_t src_addr, ipv6_addr_t sid_0, ipv6_addr_t sid_1, ipv6_addr_t sid_2) {
        SRV6_OUTER(hdr.ipv4.total_len + 56, IP_PROTO_ROUTING, 0)
        SRV6_SRH(3, 2) SRV6_SEGMENT(0, sid_2) SRV6_SEGMENT(1, sid_1) SRV6_SEGMENT(2, sid_0)
        rule_counter.count();
    }
    action encaps_4(bit<8> hop_limit, ipv6_addr_t src_addr, ipv6_addr_t sid_0, ipv6_addr_t sid_1, ipv6_addr_t sid_2, ipv6_addr_t sid_3) {
        SRV6_OUTER(hdr.ipv4.total_len + 72, IP_PROTO_ROUTING, 0)
        SRV6_SRH(4, 3) SRV6_SEGMENT(0, sid_3) SRV6_SEGMENT(1, sid_2) SRV6_SEGMENT(2, sid_1) SRV6_SEGMENT(3, sid_0)
        rule_counter.count();
    }
    action encaps_red_1(bit<8> hop_limit, ipv6_addr_t src_addr, ipv6_addr_t sid_0) {
        SRV6_OUTER(hdr.ipv4.total_len, IP_PROTO_IPV4, 0)
        rule_counter.count();
    }
    action encaps_red_2(bit<8> hop_limit, ipv6_addr_t src_addr, ipv6_addr_t sid_0, ipv6_addr_t sid_1) {
        SRV6_OUTER(hdr.ipv4.total_len + 24, IP_PROTO_ROUTING, 0)
        SRV6_SRH(1, 1) SRV6_SEGMENT(0, sid_1)
        rule_counter.count();
    }
    action encaps_red_3(bit<8> hop_limit, ipv6_addr_t src_addr, ipv6_addr_t sid_0, ipv6_addr_t sid_1, ipv6_addr_t sid_2) {
        SRV6_OUTER(hdr.ipv4.total_len + 40, IP_PROTO_ROUTING, 0)
        SRV6_SRH(2, 2) SRV6_SEGMENT(0, sid_2) SRV6_SEGMENT(1, sid_1)
        rule_counter.count();
    }
    action encaps_red_4(bit<8> hop_limit, ipv6_addr_t src_addr, ipv6_addr_t sid_0, ipv6_addr_t sid_1, ipv6_addr_t sid_2, ipv6_addr_t sid_3) {
        SRV6_OUTER(hdr.ipv4.total_len + 56, IP_PROTO_ROUTING, 0)
        SRV6_SRH(3, 3) SRV6_SEGMENT(0, sid_3) SRV6_SEGMENT(1, sid_2) SRV6_SEGMENT(2, sid_1)
        rule_counter.count();
    }
#else
    action push_1(bit<8> ttl, sid_t label_0) {
        hdr.mpls.push_front(1); WAN_PUSHED(1)
        MPLS_LABEL(0, label_0, 1)
        hdr.ethernet.ether_type = ETHERTYPE_MPLS;
        rule_counter.count();
    }
    action push_2(bit<8> ttl, sid_t label_0, sid_t label_1) {
        hdr.mpls.push_front(2); WAN_PUSHED(2)
        MPLS_LABEL(0, label_0, 0) MPLS_LABEL(1, label_1, 1)
        hdr.ethernet.ether_type = ETHERTYPE_MPLS;
        rule_counter.count();
    }
    action push_3(bit<8> ttl, sid_t label_0, sid_t label_1, sid_t label_2) {
        hdr.mpls.push_front(3); WAN_PUSHED(3)
        MPLS_LABEL(0, label_0, 0) MPLS_LABEL(1, label_1, 0) MPLS_LABEL(2, label_2, 1)
        hdr.ethernet.ether_type = ETHERTYPE_MPLS;
        rule_counter.count();
    }
    action push_4(bit<8> ttl, sid_t label_0, sid_t label_1, sid_t label_2, sid_t label_3) {
        hdr.mpls.push_front(4); WAN_PUSHED(4)
        MPLS_LABEL(0, label_0, 0) MPLS_LABEL(1, label_1, 0) MPLS_LABEL(2, label_2, 0)
        MPLS_LABEL(3, label_3, 1)
        hdr.ethernet.ether_type = ETHERTYPE_MPLS;
        rule_counter.count();
    }
    action push_5(bit<8> ttl, sid_t label_0, sid_t label_1, sid_t label_2, sid_t label_3, sid_t label_4) {
        hdr.mpls.push_front(5); WAN_PUSHED(5)
        MPLS_LABEL(0, label_0, 0) MPLS_LABEL(1, label_1, 0) MPLS_LABEL(2, label_2, 0)
        MPLS_LABEL(3, label_3, 0) MPLS_LABEL(4, label_4, 1)
        hdr.ethernet.ether_type = ETHERTYPE_MPLS;
        rule_counter.count();
    }
    action push_6(bit<8> ttl, sid_t label_0, sid_t label_1, sid_t label_2, sid_t label_3, sid_t label_4, sid_t label_5) {
        hdr.mpls.push_front(6); WAN_PUSHED(6)
        MPLS_LABEL(0, label_0, 0) MPLS_LABEL(1, label_1, 0) MPLS_LABEL(2, label_2, 0)
        MPLS_LABEL(3, label_3, 0) MPLS_LABEL(4, label_4, 0) MPLS_LABEL(5, label_5, 1)
        hdr.ethernet.ether_type = ETHERTYPE_MPLS;
        rule_counter.count();
    }
    action push_7(bit<8> ttl, sid_t label_0, sid_t label_1, sid_t label_2, sid_t label_3, sid_t label_4, sid_t label_5, sid_t label_6) {
        hdr.mpls.push_front(7); WAN_PUSHED(7)
        MPLS_LABEL(0, label_0, 0) MPLS_LABEL(1, label_1, 0) MPLS_LABEL(2, label_2, 0)
        MPLS_LABEL(3, label_3, 0) MPLS_LABEL(4, label_4, 0) MPLS_LABEL(5, label_5, 0)
        MPLS_LABEL(6, label_6, 1)
        hdr.ethernet.ether_type = ETHERTYPE_MPLS;
        rule_counter.count();
    }
    action push_8(bit<8> ttl, sid_t label_0, sid_t label_1, sid_t label_2, sid_t label_3, sid_t label_4, sid_t label_5, sid_t label_6, sid_t label_7) {
        hdr.mpls.push_front(8); WAN_PUSHED(8)
        MPLS_LABEL(0, label_0, 0) MPLS_LABEL(1, label_1, 0) MPLS_LABEL(2, label_2, 0)
        MPLS_LABEL(3, label_3, 0) MPLS_LABEL(4, label_4, 0) MPLS_LABEL(5, label_5, 0)
        MPLS_LABEL(6, label_6, 0) MPLS_LABEL(7, label_7, 1)
        hdr.ethernet.ether_type = ETHERTYPE_MPLS;
        rule_counter.count();
    }

#endif

    action no_chain() {}

    table rules {
        key = {
            ig_intr_md.ingress_port : ternary @name("ig_port");
            hdr.ipv4.src_addr : ternary @name("src_addr");
            hdr.ipv4.dst_addr : ternary @name("dst_addr");
            hdr.ipv4.protocol : ternary @name("protocol");
            ig_md.src_port : ternary @name("src_port");
            ig_md.dst_port : ternary @name("dst_port");
            ig_md.lb_bucket : ternary @name("lb_bucket");
        }
        actions = {
#if SRCHAIN_SRV6
            encaps_1; encaps_2; encaps_3; encaps_4; encaps_red_1; encaps_red_2; encaps_red_3; encaps_red_4;
#else
            push_1; push_2; push_3; push_4; push_5; push_6; push_7; push_8;
#endif
            @defaultonly no_chain;
        }
        const default_action = no_chain;
        counters = rule_counter;
        size = CLASSIFIER_SIZE;
    }

    apply {
        rules.apply();
    }
}

#endif
