/* srchain SR node: parsers and deparsers of both gresses. */
#ifndef _SRCHAIN_PARSER_P4_
#define _SRCHAIN_PARSER_P4_

#include "headers.p4"

#if MSD != 8
#error "the ingress parser unrolls exactly 8 label states (parse_mpls_0..7): extend it with MSD"
#endif
#if SRCHAIN_SRV6 && SRV6_MAX_SEGS != 4
#error "the ingress parser unrolls exactly 4 SRH segment states (parse_srh_segment_0..3): extend it with SRV6_MAX_SEGS"
#endif

parser SwitchIngressParser(
        packet_in pkt,
        out headers_t hdr,
        out ingress_metadata_t ig_md,
        out ingress_intrinsic_metadata_t ig_intr_md) {
    Checksum() ipv4_checksum;
#if SRCHAIN_WAN
    Checksum() wan_checksum;
#endif

    state start {
        pkt.extract(ig_intr_md);
        pkt.advance(PORT_METADATA_SIZE);
        ig_md.stack_too_deep = false;
#if SRCHAIN_SRV6
        ig_md.srh_invalid = false;
        ig_md.srv6.end = false;
        ig_md.srv6.decap = false;
        ig_md.srv6.fixed_nh = false;
#endif
        ig_md.checksum_err = false;
        ig_md.has_l4 = false;
        ig_md.src_port = 0;
        ig_md.dst_port = 0;
        /* what the control tests before any table writes it (a Tofino's metadata starts undefined) */
        ig_md.drop_reason = 0;
        ig_md.ttl_dec = 1;
        ig_md.ls0.module = LOCAL_NONE;
        ig_md.ls1.module = LOCAL_NONE;
        ig_md.run_flow_features = false;
        ig_md.run_priority = false;
        ig_md.decision_copy = false;
        ig_md.decision_fanout = false;
#if SRCHAIN_L4S
        ig_md.run_l4s = false;
#endif
#if SRCHAIN_WAN
        ig_md.wan.checksum_err = false;
        ig_md.wan.fragment = false;
        ig_md.wan.gre_options = false;
        ig_md.wan.len_diff = 20;
        ig_md.wan.decapped = false;
        ig_md.wan.transit = false;
        ig_md.wan.encapped = false;
        ig_md.wan.label_bytes = 0;
        ig_md.wan.inner_ttl_dec = 1;
#endif
        transition parse_ethernet;
    }

    state parse_ethernet {
        pkt.extract(hdr.ethernet);
        transition select(hdr.ethernet.ether_type) {
#if SRCHAIN_SRV6
            ETHERTYPE_IPV6 : parse_ipv6;  /* the SR core is SRv6: an MPLS frame is dropped as not_ipv4 */
#else
            ETHERTYPE_MPLS : parse_mpls_0;
#endif
#if SRCHAIN_WAN
            ETHERTYPE_IPV4 : probe_wan;
#else
            ETHERTYPE_IPV4 : parse_ipv4;
#endif
            default : accept;
        }
    }

#if SRCHAIN_SRV6
    state parse_ipv6 {
        pkt.extract(hdr.ipv6);
        transition select(hdr.ipv6.next_hdr) {
            IP_PROTO_ROUTING : parse_srh;
            IP_PROTO_IPV4 : parse_ipv4;  /* H.Encaps.Red of one segment, or plain IPv4-in-IPv6 */
            default : accept;
        }
    }

    /* An SRH is taken when it lists 1..SRV6_MAX_SEGS segments and nothing else (Hdr Ext Len = 2 x (Last Entry
     * + 1): no TLVs) with Segments Left <= Last Entry + 1 (RFC 8986 4.1 S07); every pair is spelled out, so
     * the control needs no field-to-field comparison (a Tofino 1 gateway compares a field with a constant). */
    state parse_srh {
        pkt.extract(hdr.srh);
        transition select(hdr.srh.routing_type, hdr.srh.last_entry, hdr.srh.hdr_ext_len, hdr.srh.segments_left) {
            (ROUTING_TYPE_SRH, 0, 2, 0) : parse_srh_segment_0;
            (ROUTING_TYPE_SRH, 0, 2, 1) : parse_srh_segment_0;
            (ROUTING_TYPE_SRH, 1, 4, 0) : parse_srh_segment_0;
            (ROUTING_TYPE_SRH, 1, 4, 1) : parse_srh_segment_0;
            (ROUTING_TYPE_SRH, 1, 4, 2) : parse_srh_segment_0;
            (ROUTING_TYPE_SRH, 2, 6, 0) : parse_srh_segment_0;
            (ROUTING_TYPE_SRH, 2, 6, 1) : parse_srh_segment_0;
            (ROUTING_TYPE_SRH, 2, 6, 2) : parse_srh_segment_0;
            (ROUTING_TYPE_SRH, 2, 6, 3) : parse_srh_segment_0;
            (ROUTING_TYPE_SRH, 3, 8, 0) : parse_srh_segment_0;
            (ROUTING_TYPE_SRH, 3, 8, 1) : parse_srh_segment_0;
            (ROUTING_TYPE_SRH, 3, 8, 2) : parse_srh_segment_0;
            (ROUTING_TYPE_SRH, 3, 8, 3) : parse_srh_segment_0;
            (ROUTING_TYPE_SRH, 3, 8, 4) : parse_srh_segment_0;
            (ROUTING_TYPE_SRH, 0, _, _) : srh_invalid;
            (ROUTING_TYPE_SRH, 1, _, _) : srh_invalid;
            (ROUTING_TYPE_SRH, 2, _, _) : srh_invalid;
            (ROUTING_TYPE_SRH, 3, _, _) : srh_invalid;
            (ROUTING_TYPE_SRH, _, _, _) : stack_too_deep;  /* Last Entry >= SRV6_MAX_SEGS */
            default : srh_invalid;
        }
    }

    state srh_invalid {
        ig_md.srh_invalid = true;
        transition accept;
    }

    /* Segment List[0 .. Last Entry], unrolled like the labels. */
    state parse_srh_segment_0 {
        pkt.extract(hdr.srh_segments[0]);
        transition select(hdr.srh.last_entry) {
            0 : parse_srh_next;
            default : parse_srh_segment_1;
        }
    }
    state parse_srh_segment_1 {
        pkt.extract(hdr.srh_segments[1]);
        transition select(hdr.srh.last_entry) {
            1 : parse_srh_next;
            default : parse_srh_segment_2;
        }
    }
    state parse_srh_segment_2 {
        pkt.extract(hdr.srh_segments[2]);
        transition select(hdr.srh.last_entry) {
            2 : parse_srh_next;
            default : parse_srh_segment_3;
        }
    }
    state parse_srh_segment_3 {
        pkt.extract(hdr.srh_segments[3]);
        transition parse_srh_next;
    }

    state parse_srh_next {
        transition select(hdr.srh.next_hdr) {
            IP_PROTO_IPV4 : parse_ipv4;
            default : accept;
        }
    }
#endif

#if SRCHAIN_WAN
    /* MPLS-in-UDP (RFC 7510): IPv4 without options, UDP, destination port 6635 (nothing extracted yet: 4 bytes
     * matched in the lookahead window). Anything else is plain IPv4. Whether it is addressed to this border is
     * wan.decap's to say: a miss routes it by its outer header, labels untouched. */
    state probe_wan {
        transition select(pkt.lookahead<wan_probe_h>().ihl, pkt.lookahead<wan_probe_h>().protocol,
                          pkt.lookahead<wan_probe_h>().dst_port) {
            (5, IP_PROTO_UDP, MPLS_UDP_PORT) : parse_wan_ipv4;
            (5, IP_PROTO_GRE, ETHERTYPE_MPLS) : parse_wan_ipv4;  /* GRE protocol 0x8847 (RFC 4023) */
            default : parse_ipv4;
        }
    }

    state parse_wan_ipv4 {
        pkt.extract(hdr.wan_ipv4);
        wan_checksum.add(hdr.wan_ipv4);
        ig_md.wan.checksum_err = wan_checksum.verify();  /* a Tofino's verify() is the error bit */
        transition select(hdr.wan_ipv4.protocol, hdr.wan_ipv4.flags, hdr.wan_ipv4.frag_offset) {
            (IP_PROTO_UDP, 3w0 &&& 3w1, 0) : parse_wan_udp;  /* MF clear, offset 0: not a fragment */
            (IP_PROTO_UDP, _, _) : wan_fragment_udp;
            (IP_PROTO_GRE, 3w0 &&& 3w1, 0) : parse_wan_gre;
            default : wan_fragment_gre;
        }
    }

    /* a fragment: dropped as wan_malformed if it is ours, routed as it is if not */
    state wan_fragment_udp {
        ig_md.wan.fragment = true;
        transition parse_wan_udp;
    }

    state wan_fragment_gre {
        ig_md.wan.fragment = true;
        transition parse_wan_gre;
    }

    state parse_wan_udp {
        pkt.extract(hdr.wan_udp);
        transition parse_mpls_0;  /* RFC 7510: the label stack follows the UDP header */
    }

    state parse_wan_gre {
        pkt.extract(hdr.wan_gre);
        transition select(hdr.wan_gre.flags_version) {
            0 : parse_mpls_0;  /* RFC 4023: the label stack follows the GRE header */
            default : wan_gre_options;
        }
    }

    state wan_gre_options {
        ig_md.wan.gre_options = true;  /* not taken further: wan_malformed if it is ours, routed if not */
        transition accept;
    }
#define WAN_LABELS(n) ig_md.wan.label_bytes = 4 * n;
#else
#define WAN_LABELS(n)
#endif

    /* Up to MSD labels, unrolled so that a deeper stack is flagged (and dropped and counted by the
     * control) instead of being a parser error whose handling differs between targets. */
    state parse_mpls_0 {
        pkt.extract(hdr.mpls[0]);
        WAN_LABELS(1)
        transition select(hdr.mpls[0].bos) {
            1 : parse_bottom;
            default : parse_mpls_1;
        }
    }
    state parse_mpls_1 {
        pkt.extract(hdr.mpls[1]);
        WAN_LABELS(2)
        transition select(hdr.mpls[1].bos) {
            1 : parse_bottom;
            default : parse_mpls_2;
        }
    }
    state parse_mpls_2 {
        pkt.extract(hdr.mpls[2]);
        WAN_LABELS(3)
        transition select(hdr.mpls[2].bos) {
            1 : parse_bottom;
            default : parse_mpls_3;
        }
    }
    state parse_mpls_3 {
        pkt.extract(hdr.mpls[3]);
        WAN_LABELS(4)
        transition select(hdr.mpls[3].bos) {
            1 : parse_bottom;
            default : parse_mpls_4;
        }
    }
    state parse_mpls_4 {
        pkt.extract(hdr.mpls[4]);
        WAN_LABELS(5)
        transition select(hdr.mpls[4].bos) {
            1 : parse_bottom;
            default : parse_mpls_5;
        }
    }
    state parse_mpls_5 {
        pkt.extract(hdr.mpls[5]);
        WAN_LABELS(6)
        transition select(hdr.mpls[5].bos) {
            1 : parse_bottom;
            default : parse_mpls_6;
        }
    }
    state parse_mpls_6 {
        pkt.extract(hdr.mpls[6]);
        WAN_LABELS(7)
        transition select(hdr.mpls[6].bos) {
            1 : parse_bottom;
            default : parse_mpls_7;
        }
    }
    state parse_mpls_7 {
        pkt.extract(hdr.mpls[7]);
        WAN_LABELS(8)
        transition select(hdr.mpls[7].bos) {
            1 : parse_bottom;
            default : stack_too_deep;
        }
    }

    state stack_too_deep {
        ig_md.stack_too_deep = true;
        transition accept;
    }

    state parse_bottom {
        transition select(pkt.lookahead<bit<4>>()) {
            4 : parse_ipv4;
            default : accept;
        }
    }

    state parse_ipv4 {
        pkt.extract(hdr.ipv4);
        ipv4_checksum.add(hdr.ipv4);
        ig_md.checksum_err = ipv4_checksum.verify();  /* a Tofino's verify() is the error bit */
        transition select(hdr.ipv4.ihl, hdr.ipv4.frag_offset, hdr.ipv4.protocol) {
            (5, 0, IP_PROTO_UDP) : parse_udp;
            (5, 0, IP_PROTO_TCP) : parse_tcp;
            default : accept;
        }
    }

    state parse_tcp {
        pkt.extract(hdr.l4);
        ig_md.has_l4 = true;
        ig_md.src_port = hdr.l4.src_port;
        ig_md.dst_port = hdr.l4.dst_port;
        transition accept;
    }

    state parse_udp {
        pkt.extract(hdr.l4);
        pkt.extract(hdr.udp);
        ig_md.has_l4 = true;
        ig_md.src_port = hdr.l4.src_port;
        ig_md.dst_port = hdr.l4.dst_port;
        transition select(hdr.l4.dst_port) {
            DECISION_PORT : parse_decision;
            default : accept;
        }
    }

    state parse_decision {
        pkt.extract(hdr.decision);
        transition accept;
    }
}

control SwitchIngressDeparser(
        packet_out pkt,
        inout headers_t hdr,
        in ingress_metadata_t ig_md,
        in ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md) {
    Checksum() ipv4_checksum;
#if SRCHAIN_WAN
    Checksum() wan_checksum;
#endif

    apply {
        /* The TTL decrement of a routed packet changed the header: recompute its checksum. */
        hdr.ipv4.hdr_checksum = ipv4_checksum.update({
            hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.diffserv, hdr.ipv4.total_len,
            hdr.ipv4.identification, hdr.ipv4.flags, hdr.ipv4.frag_offset, hdr.ipv4.ttl,
            hdr.ipv4.protocol, hdr.ipv4.src_addr, hdr.ipv4.dst_addr});
#if SRCHAIN_WAN
        /* an encapsulation's outer header (its UDP checksum stays 0, RFC 7510 3: allowed for IPv4) */
        hdr.wan_ipv4.hdr_checksum = wan_checksum.update({
            hdr.wan_ipv4.version, hdr.wan_ipv4.ihl, hdr.wan_ipv4.diffserv, hdr.wan_ipv4.total_len,
            hdr.wan_ipv4.identification, hdr.wan_ipv4.flags, hdr.wan_ipv4.frag_offset, hdr.wan_ipv4.ttl,
            hdr.wan_ipv4.protocol, hdr.wan_ipv4.src_addr, hdr.wan_ipv4.dst_addr});
#endif
        /* the report (when one is due) rides in front of the packet, after the bridged header */
        pkt.emit(hdr.bridged);
        pkt.emit(hdr.report_key);
        pkt.emit(hdr.report);
        pkt.emit(hdr.ethernet);
#if SRCHAIN_WAN
        pkt.emit(hdr.wan_ipv4);
        pkt.emit(hdr.wan_udp);
        pkt.emit(hdr.wan_gre);
#endif
        pkt.emit(hdr.mpls);
#if SRCHAIN_SRV6
        pkt.emit(hdr.ipv6);
        pkt.emit(hdr.srh);
        pkt.emit(hdr.srh_segments);
#endif
        pkt.emit(hdr.ipv4);
        pkt.emit(hdr.l4);
        pkt.emit(hdr.udp);
        pkt.emit(hdr.decision);
    }
}

/* Egress sees what the ingress deparser emitted: the bridged header, with a report due also the report's key
 * and record, then the packet (left unparsed: egress forwards it as is, or keeps it as trailing bytes of a
 * report, beyond the report's IPv4 total length, which receivers ignore). Both copies of a packet with a
 * report (the unicast one and the PRE's report copy) parse the same; egress tells them by egress_rid. */
parser SwitchEgressParser(
        packet_in pkt,
        out headers_t hdr,
        out egress_metadata_t eg_md,
        out egress_intrinsic_metadata_t eg_intr_md) {
    state start {
        pkt.extract(eg_intr_md);
        transition select(pkt.lookahead<bit<8>>()) {
            PKT_REPORT_TRUNCATED : parse_truncated;
            default : parse_bridged;
        }
    }

    state parse_truncated {
        pkt.extract(eg_md.trunc);  /* the report frame follows, left as it is */
        transition accept;
    }

    state parse_bridged {
        pkt.extract(hdr.bridged);
#if SRCHAIN_L4S
        transition select(hdr.bridged.kind, hdr.bridged.l4s_sid) {
            (PKT_REPORT, _) : parse_report;
            (PKT_REPORT_DATA_DROPPED, _) : parse_report;
            (PKT_BRIDGED, 0) : accept;
            (PKT_BRIDGED, _) : eg_ethernet;  /* the l4s module may mark ECN: IPv4 below the labels left */
            default : accept;
        }
#else
        transition select(hdr.bridged.kind) {
            PKT_REPORT : parse_report;
            PKT_REPORT_DATA_DROPPED : parse_report;
            default : accept;
        }
#endif
    }

#if SRCHAIN_L4S
    /* Ingress let at most MSD labels through, so eight states reach any IPv4 header below them. */
    state eg_ethernet {
        pkt.extract(hdr.ethernet);
        transition select(hdr.ethernet.ether_type) {
            ETHERTYPE_MPLS : eg_mpls_0;
            ETHERTYPE_IPV4 : eg_ipv4;
            default : accept;
        }
    }
    state eg_mpls_0 {
        pkt.extract(hdr.mpls[0]);
        transition select(hdr.mpls[0].bos) {
            1 : eg_bottom;
            default : eg_mpls_1;
        }
    }
    state eg_mpls_1 {
        pkt.extract(hdr.mpls[1]);
        transition select(hdr.mpls[1].bos) {
            1 : eg_bottom;
            default : eg_mpls_2;
        }
    }
    state eg_mpls_2 {
        pkt.extract(hdr.mpls[2]);
        transition select(hdr.mpls[2].bos) {
            1 : eg_bottom;
            default : eg_mpls_3;
        }
    }
    state eg_mpls_3 {
        pkt.extract(hdr.mpls[3]);
        transition select(hdr.mpls[3].bos) {
            1 : eg_bottom;
            default : eg_mpls_4;
        }
    }
    state eg_mpls_4 {
        pkt.extract(hdr.mpls[4]);
        transition select(hdr.mpls[4].bos) {
            1 : eg_bottom;
            default : eg_mpls_5;
        }
    }
    state eg_mpls_5 {
        pkt.extract(hdr.mpls[5]);
        transition select(hdr.mpls[5].bos) {
            1 : eg_bottom;
            default : eg_mpls_6;
        }
    }
    state eg_mpls_6 {
        pkt.extract(hdr.mpls[6]);
        transition select(hdr.mpls[6].bos) {
            1 : eg_bottom;
            default : eg_mpls_7;
        }
    }
    state eg_mpls_7 {
        pkt.extract(hdr.mpls[7]);
        transition select(hdr.mpls[7].bos) {
            1 : eg_bottom;
            default : accept;
        }
    }
    state eg_bottom {
        transition select(pkt.lookahead<bit<4>>()) {
            4 : eg_ipv4;
            default : accept;
        }
    }
    state eg_ipv4 {
        pkt.extract(hdr.ipv4);
        transition accept;
    }
#endif

    state parse_report {
        pkt.extract(hdr.report_key);
        pkt.extract(hdr.report);
        transition accept;
    }
}

control SwitchEgressDeparser(
        packet_out pkt,
        inout headers_t hdr,
        in egress_metadata_t eg_md,
        in egress_intrinsic_metadata_for_deparser_t eg_dprsr_md) {
    Checksum() ipv4_checksum;
    Mirror() mirror;

    apply {
        hdr.ipv4.hdr_checksum = ipv4_checksum.update({
            hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.diffserv, hdr.ipv4.total_len,
            hdr.ipv4.identification, hdr.ipv4.flags, hdr.ipv4.frag_offset, hdr.ipv4.ttl,
            hdr.ipv4.protocol, hdr.ipv4.src_addr, hdr.ipv4.dst_addr});
        if (eg_dprsr_md.mirror_type == MIRROR_TYPE_REPORT) {
            mirror.emit<report_trunc_h>(eg_md.report_session, {eg_md.trunc_kind});
        }
        /* the bridged header and the report's key end here; the record follows the report's UDP header */
        pkt.emit(hdr.ethernet);
        pkt.emit(hdr.mpls);
#if SRCHAIN_SRV6
        pkt.emit(hdr.ipv6);  /* a report's H.Encaps */
        pkt.emit(hdr.srh);
        pkt.emit(hdr.srh_segments);
#endif
        pkt.emit(hdr.ipv4);
        pkt.emit(hdr.l4);
        pkt.emit(hdr.udp);
        pkt.emit(hdr.decision);
        pkt.emit(hdr.report);
    }
}

#endif
