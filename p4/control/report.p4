/* Egress half of the flow-features module: the PRE's report copy becomes a feature report frame
 *   Ethernet | label stack (the rest of the chain) | IPv4 | UDP (dst 47001) | feature report v1
 * (the record itself was filled in ingress and arrives parsed in hdr.report; the original frame follows as
 * trailing bytes beyond the IPv4 total length)
 * SwitchEgress.report.encap (SID, bucket) -> push_<n>(ttl, src_mac, dst_mac, label_0 .. label_<n-1>); profile
 *   srv6: encaps_<n> / encaps_red_<n>(hop_limit, src_mac, dst_mac, src_addr, sid_0 .. sid_<n-1>) (H.Encaps(.Red))
 * SwitchEgress.report.addresses (SID) -> set_addresses(switch_id, src_addr, dst_addr)
 * A report copy without both entries is dropped (counted in SwitchEgress.report.unconfigured). */
#ifndef _SRCHAIN_REPORT_P4_
#define _SRCHAIN_REPORT_P4_

#include "../include/label_stack.p4"
#if SRCHAIN_SRV6
#include "../include/srv6_encap.p4"
#define REPORT_IPV4_LEN (20 + 8 + FEATURE_REPORT_LEN)
#endif

control Report(
        inout headers_t hdr,
        inout egress_metadata_t eg_md,
        in egress_intrinsic_metadata_t eg_intr_md,
        inout egress_intrinsic_metadata_for_deparser_t eg_dprsr_md) {
    Counter<bit<32>, bit<1>>(1, CounterType_t.PACKETS) unconfigured;

#if SRCHAIN_SRV6
    /* H.Encaps(.Red) of the report (profile srv6): outer IPv6 + SRH toward the report path's SIDs. */
    action encaps_1(bit<8> hop_limit, mac_addr_t src_mac, mac_addr_t dst_mac, ipv6_addr_t src_addr,
            ipv6_addr_t sid_0) {
        SRV6_OUTER(REPORT_IPV4_LEN + 24, IP_PROTO_ROUTING, 0)
        SRV6_SRH(1, 0) SRV6_SEGMENT(0, sid_0)
        hdr.ethernet.src_addr = src_mac;
        hdr.ethernet.dst_addr = dst_mac;
    }
    action encaps_2(bit<8> hop_limit, mac_addr_t src_mac, mac_addr_t dst_mac, ipv6_addr_t src_addr,
            ipv6_addr_t sid_0, ipv6_addr_t sid_1) {
        SRV6_OUTER(REPORT_IPV4_LEN + 40, IP_PROTO_ROUTING, 0)
        SRV6_SRH(2, 1) SRV6_SEGMENT(0, sid_1) SRV6_SEGMENT(1, sid_0)
        hdr.ethernet.src_addr = src_mac;
        hdr.ethernet.dst_addr = dst_mac;
    }
    action encaps_3(bit<8> hop_limit, mac_addr_t src_mac, mac_addr_t dst_mac, ipv6_addr_t src_addr,
            ipv6_addr_t sid_0, ipv6_addr_t sid_1, ipv6_addr_t sid_2) {
        SRV6_OUTER(REPORT_IPV4_LEN + 56, IP_PROTO_ROUTING, 0)
        SRV6_SRH(3, 2) SRV6_SEGMENT(0, sid_2) SRV6_SEGMENT(1, sid_1) SRV6_SEGMENT(2, sid_0)
        hdr.ethernet.src_addr = src_mac;
        hdr.ethernet.dst_addr = dst_mac;
    }
    action encaps_4(bit<8> hop_limit, mac_addr_t src_mac, mac_addr_t dst_mac, ipv6_addr_t src_addr,
            ipv6_addr_t sid_0, ipv6_addr_t sid_1, ipv6_addr_t sid_2, ipv6_addr_t sid_3) {
        SRV6_OUTER(REPORT_IPV4_LEN + 72, IP_PROTO_ROUTING, 0)
        SRV6_SRH(4, 3) SRV6_SEGMENT(0, sid_3) SRV6_SEGMENT(1, sid_2) SRV6_SEGMENT(2, sid_1) SRV6_SEGMENT(3, sid_0)
        hdr.ethernet.src_addr = src_mac;
        hdr.ethernet.dst_addr = dst_mac;
    }
    action encaps_red_1(bit<8> hop_limit, mac_addr_t src_mac, mac_addr_t dst_mac, ipv6_addr_t src_addr,
            ipv6_addr_t sid_0) {
        SRV6_OUTER(REPORT_IPV4_LEN, IP_PROTO_IPV4, 0)
        hdr.ethernet.src_addr = src_mac;
        hdr.ethernet.dst_addr = dst_mac;
    }
    action encaps_red_2(bit<8> hop_limit, mac_addr_t src_mac, mac_addr_t dst_mac, ipv6_addr_t src_addr,
            ipv6_addr_t sid_0, ipv6_addr_t sid_1) {
        SRV6_OUTER(REPORT_IPV4_LEN + 24, IP_PROTO_ROUTING, 0)
        SRV6_SRH(1, 1) SRV6_SEGMENT(0, sid_1)
        hdr.ethernet.src_addr = src_mac;
        hdr.ethernet.dst_addr = dst_mac;
    }
    action encaps_red_3(bit<8> hop_limit, mac_addr_t src_mac, mac_addr_t dst_mac, ipv6_addr_t src_addr,
            ipv6_addr_t sid_0, ipv6_addr_t sid_1, ipv6_addr_t sid_2) {
        SRV6_OUTER(REPORT_IPV4_LEN + 40, IP_PROTO_ROUTING, 0)
        SRV6_SRH(2, 2) SRV6_SEGMENT(0, sid_2) SRV6_SEGMENT(1, sid_1)
        hdr.ethernet.src_addr = src_mac;
        hdr.ethernet.dst_addr = dst_mac;
    }
    action encaps_red_4(bit<8> hop_limit, mac_addr_t src_mac, mac_addr_t dst_mac, ipv6_addr_t src_addr,
            ipv6_addr_t sid_0, ipv6_addr_t sid_1, ipv6_addr_t sid_2, ipv6_addr_t sid_3) {
        SRV6_OUTER(REPORT_IPV4_LEN + 56, IP_PROTO_ROUTING, 0)
        SRV6_SRH(3, 3) SRV6_SEGMENT(0, sid_3) SRV6_SEGMENT(1, sid_2) SRV6_SEGMENT(2, sid_1)
        hdr.ethernet.src_addr = src_mac;
        hdr.ethernet.dst_addr = dst_mac;
    }
#else
    action push_1(bit<8> ttl, mac_addr_t src_mac, mac_addr_t dst_mac, sid_t label_0) {
        hdr.mpls.push_front(1);
        MPLS_LABEL(0, label_0, 1)
        hdr.ethernet.src_addr = src_mac;
        hdr.ethernet.dst_addr = dst_mac;
    }
    action push_2(bit<8> ttl, mac_addr_t src_mac, mac_addr_t dst_mac, sid_t label_0, sid_t label_1) {
        hdr.mpls.push_front(2);
        MPLS_LABEL(0, label_0, 0) MPLS_LABEL(1, label_1, 1)
        hdr.ethernet.src_addr = src_mac;
        hdr.ethernet.dst_addr = dst_mac;
    }
    action push_3(bit<8> ttl, mac_addr_t src_mac, mac_addr_t dst_mac, sid_t label_0, sid_t label_1, sid_t label_2) {
        hdr.mpls.push_front(3);
        MPLS_LABEL(0, label_0, 0) MPLS_LABEL(1, label_1, 0) MPLS_LABEL(2, label_2, 1)
        hdr.ethernet.src_addr = src_mac;
        hdr.ethernet.dst_addr = dst_mac;
    }
    action push_4(bit<8> ttl, mac_addr_t src_mac, mac_addr_t dst_mac, sid_t label_0, sid_t label_1, sid_t label_2, sid_t label_3) {
        hdr.mpls.push_front(4);
        MPLS_LABEL(0, label_0, 0) MPLS_LABEL(1, label_1, 0) MPLS_LABEL(2, label_2, 0)
        MPLS_LABEL(3, label_3, 1)
        hdr.ethernet.src_addr = src_mac;
        hdr.ethernet.dst_addr = dst_mac;
    }
    action push_5(bit<8> ttl, mac_addr_t src_mac, mac_addr_t dst_mac, sid_t label_0, sid_t label_1, sid_t label_2, sid_t label_3, sid_t label_4) {
        hdr.mpls.push_front(5);
        MPLS_LABEL(0, label_0, 0) MPLS_LABEL(1, label_1, 0) MPLS_LABEL(2, label_2, 0)
        MPLS_LABEL(3, label_3, 0) MPLS_LABEL(4, label_4, 1)
        hdr.ethernet.src_addr = src_mac;
        hdr.ethernet.dst_addr = dst_mac;
    }
    action push_6(bit<8> ttl, mac_addr_t src_mac, mac_addr_t dst_mac, sid_t label_0, sid_t label_1, sid_t label_2, sid_t label_3, sid_t label_4, sid_t label_5) {
        hdr.mpls.push_front(6);
        MPLS_LABEL(0, label_0, 0) MPLS_LABEL(1, label_1, 0) MPLS_LABEL(2, label_2, 0)
        MPLS_LABEL(3, label_3, 0) MPLS_LABEL(4, label_4, 0) MPLS_LABEL(5, label_5, 1)
        hdr.ethernet.src_addr = src_mac;
        hdr.ethernet.dst_addr = dst_mac;
    }
    action push_7(bit<8> ttl, mac_addr_t src_mac, mac_addr_t dst_mac, sid_t label_0, sid_t label_1, sid_t label_2, sid_t label_3, sid_t label_4, sid_t label_5, sid_t label_6) {
        hdr.mpls.push_front(7);
        MPLS_LABEL(0, label_0, 0) MPLS_LABEL(1, label_1, 0) MPLS_LABEL(2, label_2, 0)
        MPLS_LABEL(3, label_3, 0) MPLS_LABEL(4, label_4, 0) MPLS_LABEL(5, label_5, 0)
        MPLS_LABEL(6, label_6, 1)
        hdr.ethernet.src_addr = src_mac;
        hdr.ethernet.dst_addr = dst_mac;
    }
    action push_8(bit<8> ttl, mac_addr_t src_mac, mac_addr_t dst_mac, sid_t label_0, sid_t label_1, sid_t label_2, sid_t label_3, sid_t label_4, sid_t label_5, sid_t label_6, sid_t label_7) {
        hdr.mpls.push_front(8);
        MPLS_LABEL(0, label_0, 0) MPLS_LABEL(1, label_1, 0) MPLS_LABEL(2, label_2, 0)
        MPLS_LABEL(3, label_3, 0) MPLS_LABEL(4, label_4, 0) MPLS_LABEL(5, label_5, 0)
        MPLS_LABEL(6, label_6, 0) MPLS_LABEL(7, label_7, 1)
        hdr.ethernet.src_addr = src_mac;
        hdr.ethernet.dst_addr = dst_mac;
    }

#endif

    action no_encap() {}

    table encap {
        key = {
            hdr.report_key.sid : exact @name("sid");
            hdr.report_key.lb_bucket : ternary @name("lb_bucket");
        }
        actions = {
#if SRCHAIN_SRV6
            encaps_1; encaps_2; encaps_3; encaps_4; encaps_red_1; encaps_red_2; encaps_red_3; encaps_red_4;
#else
            push_1; push_2; push_3; push_4; push_5; push_6; push_7; push_8;
#endif
            @defaultonly no_encap;
        }
        const default_action = no_encap;
        size = REPORT_SESSIONS;
    }

    action set_addresses(bit<16> switch_id, ipv4_addr_t src_addr, ipv4_addr_t dst_addr) {
        hdr.ipv4.setValid();
        hdr.ipv4.version = 4;
        hdr.ipv4.ihl = 5;
        hdr.ipv4.diffserv = 0;
        hdr.ipv4.total_len = 20 + 8 + FEATURE_REPORT_LEN;
        hdr.ipv4.identification = 0;
        hdr.ipv4.flags = 2;  /* don't fragment */
        hdr.ipv4.frag_offset = 0;
        hdr.ipv4.ttl = 64;
        hdr.ipv4.protocol = IP_PROTO_UDP;
        hdr.ipv4.src_addr = src_addr;
        hdr.ipv4.dst_addr = dst_addr;
        hdr.report.switch_id = switch_id;
    }

    action no_addresses() {}

    table addresses {
        key = { hdr.report_key.sid : exact @name("sid"); }
        actions = { set_addresses; @defaultonly no_addresses; }
        const default_action = no_addresses;
        size = REPORT_SESSIONS;
    }

    /* Out only as its truncated E2E mirror (same port): this copy still carries the whole data frame. */
    action truncate() {
        eg_md.report_session = REPORT_SESSION_BASE + (bit<10>)eg_intr_md.egress_port;
        eg_md.trunc_kind = PKT_REPORT_TRUNCATED;
        eg_dprsr_md.mirror_type = MIRROR_TYPE_REPORT;
        eg_dprsr_md.drop_ctl = 1;
    }

    apply {
        hdr.ethernet.setValid();
        /* one table application per expression (bf-p4c): addresses only when encap hit, as `&&` did */
        bool configured = false;
        if (encap.apply().hit) {
            if (addresses.apply().hit) {
                configured = true;
            }
        }
        if (configured) {
#if !SRCHAIN_SRV6
            hdr.ethernet.ether_type = ETHERTYPE_MPLS;  /* (srv6: the encap action set IPv6) */
#endif
            hdr.l4.setValid();
            hdr.l4.src_port = FEATURE_REPORT_PORT;
            hdr.l4.dst_port = FEATURE_REPORT_PORT;
            hdr.udp.setValid();
            hdr.udp.length = 8 + FEATURE_REPORT_LEN;
            hdr.udp.checksum = 0;  /* optional in IPv4 */
            hdr.report.magic = RECORD_MAGIC;
            hdr.report.version = RECORD_VERSION;
            hdr.report.rtype = RECORD_FEATURE_REPORT;
            hdr.report.reserved = 0;
            truncate();
        } else {
            unconfigured.count(0);
            eg_dprsr_md.drop_ctl = 1;
        }
    }
}

#endif
