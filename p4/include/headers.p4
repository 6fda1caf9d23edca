/* srchain SR node: packet headers, records, bridged headers, metadata. */
#ifndef _SRCHAIN_HEADERS_P4_
#define _SRCHAIN_HEADERS_P4_

#include "defines.p4"

header ethernet_h {
    mac_addr_t dst_addr;
    mac_addr_t src_addr;
    bit<16> ether_type;
}

header mpls_h {
    sid_t label;
    bit<3> tc;
    bit<1> bos;
    bit<8> ttl;
}

header ipv4_h {
    bit<4> version;
    bit<4> ihl;
    bit<8> diffserv;
    bit<16> total_len;
    bit<16> identification;
    bit<3> flags;
    bit<13> frag_offset;
    bit<8> ttl;
    bit<8> protocol;
    bit<16> hdr_checksum;
    ipv4_addr_t src_addr;
    ipv4_addr_t dst_addr;
}

#if SRCHAIN_SRV6
header ipv6_h {
    bit<4> version;
    bit<8> traffic_class;
    bit<20> flow_label;
    bit<16> payload_len;
    bit<8> next_hdr;
    bit<8> hop_limit;
    ipv6_addr_t src_addr;
    ipv6_addr_t dst_addr;
}

/* Segment Routing Header (RFC 8754 2), the 8 bytes before the Segment List. */
header srh_h {
    bit<8> next_hdr;
    bit<8> hdr_ext_len;     /* 8-octet units after the first 8: 2 x (Last Entry + 1) without TLVs */
    bit<8> routing_type;    /* 4 */
    bit<8> segments_left;
    bit<8> last_entry;
    bit<8> flags;
    bit<16> tag;
}

/* Segment List[i], in wire order: [0] is the last segment of the path, [Last Entry] the first. */
header srh_segment_h {
    ipv6_addr_t sid;
}
#endif

#if SRCHAIN_WAN
/* MPLS-in-UDP's outer UDP header (RFC 7510; the outer IPv4 header is an ipv4_h). */
header udp_h {
    bit<16> src_port;
    bit<16> dst_port;
    bit<16> length;
    bit<16> checksum;
}

/* MPLS-in-GRE's GRE header (RFC 4023 over RFC 2784): no checksum, key or sequence number (C, K, S and version 0),
 * protocol 0x8847. */
header gre_h {
    bit<16> flags_version;
    bit<16> protocol;
}

/* What the parser looks at before it decides that an IPv4 packet is MPLS-in-UDP or MPLS-in-GRE: its IPv4 header (no options)
 * and the UDP ports behind it (lookahead, nothing extracted). */
header wan_probe_h {
    bit<4> version;
    bit<4> ihl;
    bit<64> _ip_middle;
    bit<8> protocol;
    bit<80> _ip_tail;
    bit<16> src_port;       /* GRE: flags and version */
    bit<16> dst_port;       /* GRE: protocol */
}
#endif

/* The first 4 bytes of TCP and UDP: all the flow key needs. */
header l4_ports_h {
    bit<16> src_port;
    bit<16> dst_port;
}

header udp_rest_h {
    bit<16> length;
    bit<16> checksum;
}

/* Decision record v1 (36 bytes), aggregator -> priority module. */
header decision_h {
    bit<16> magic;
    bit<8> version;
    bit<8> rtype;
    bit<8> flags;
    bit<8> protocol;
    bit<16> issuer_id;
    ipv4_addr_t ip_a;
    ipv4_addr_t ip_b;
    bit<16> port_a;
    bit<16> port_b;
    class_id_t class_id;
    bit<8> confidence;
    bit<16> ttl_s;
    bit<32> seq;
    bit<48> issued_ns;
    bit<16> reserved;
}

/* Feature report v1 (72 bytes): filled by the flow-features module in ingress, bridged to egress (which adds
 * the switch id and the record head), sent after the report's IPv4/UDP headers. */
header feature_report_h {
    bit<16> magic;
    bit<8> version;
    bit<8> rtype;
    bit<8> flags;
    bit<8> protocol;
    bit<16> switch_id;
    ipv4_addr_t ip_a;
    ipv4_addr_t ip_b;
    bit<16> port_a;
    bit<16> port_b;
    bit<32> slot;
    bit<32> seq;
    bit<32> pkt_count;
    bit<32> byte_count;
    bit<32> size_sum;
    bit<32> iat_min;
    bit<32> iat_max;
    bit<32> iat_sum;
    bit<16> win_pkts;
    bit<16> size_min;
    bit<16> size_max;
    bit<48> first_seen_ns;
    bit<48> last_seen_ns;
    bit<16> reserved;
}

/* Ingress -> egress for normal packets: the kind byte and the ingress timestamp (queueing delay). */
header bridged_h {
    bit<8> kind;
    bit<48> ingress_tstamp;
#if SRCHAIN_L4S
    bit<4> _pad;
    sid_t l4s_sid;          /* the l4s module's SID that classified the packet; 0: none (SIDs are >= 16) */
#endif
}

/* Ingress -> egress with a report: the key of SwitchEgress.report.* (the flow-features SID and LB bucket). */
header report_key_h {
    sid_t sid;
    lb_bucket_t lb_bucket;
}

/* E2E mirror header of a truncated report (egress metadata: never emitted). */
header report_trunc_h {
    bit<8> kind;
}

/* Ingress deparser order: bridged, report_key, report, then the packet; egress: the packet, then report. */
struct headers_t {
    bridged_h bridged;
    report_key_h report_key;
    ethernet_h ethernet;
#if SRCHAIN_WAN
    ipv4_h wan_ipv4;        /* MPLS-in-UDP's / MPLS-in-GRE's outer headers: between Ethernet and the labels */
    udp_h wan_udp;
    gre_h wan_gre;
#endif
    mpls_h[MSD] mpls;
#if SRCHAIN_SRV6
    ipv6_h ipv6;
    srh_h srh;
    srh_segment_h[SRV6_MAX_SEGS] srh_segments;
#endif
    ipv4_h ipv4;
    l4_ports_h l4;
    udp_rest_h udp;
    decision_h decision;
    feature_report_h report;
}

/* The canonical 5-tuple (docs/records.md): endpoint a is the lower (ip, port) pair. */
struct flow_key_t {
    ipv4_addr_t ip_a;
    ipv4_addr_t ip_b;
    bit<16> port_a;
    bit<16> port_b;
    bit<8> protocol;
    bit<8> direction;       /* 1: the packet went a -> b */
}

/* The canonical order's intermediate values: a gateway tests a field against a constant only. */
struct key_order_t {
    ipv4_addr_t ip_low;         /* min(src, dst) */
    bit<16> port_low;           /* min(src_port, dst_port) */
    bit<32> ip_diff;            /* src ^ dst: 0 when both addresses are equal */
    bit<32> src_ip_not_low;     /* 0 when src is the lower address */
    bit<16> src_port_not_low;   /* 0 when src_port is the lower port */
}

/* What SwitchIngress.sr.local_sid_0/1 found: LOCAL_* code, the SID and the module's parameter. */
struct local_sid_t {
    bit<8> module;
    sid_t sid;
    bit<16> report_every;
}

#if SRCHAIN_SRV6
/* What SwitchIngress.srv6.local_sid found for the IPv6 destination (docs/p4.md "SRv6 profile"). */
struct srv6_local_t {
    bool end;               /* End, End.X or a module SID: Segments Left - 1, DA = Segment List[SL] */
    bool decap;             /* End.DX4 / End.DT4: remove the outer IPv6 + SRH, the inner IPv4 goes on */
    bool fixed_nh;          /* End.X / End.DX4: the next hop below instead of a lookup */
    PortId_t port;
    mac_addr_t dst_mac;
}
#endif

#if SRCHAIN_WAN
/* profile wan (control/wan.p4): an arriving MPLS-in-UDP packet and an outgoing encapsulation. */
struct wan_metadata_t {
    bool checksum_err;      /* the outer IPv4 header's checksum is wrong (the parser's verify) */
    bool fragment;          /* the outer IPv4 packet is a fragment (MF or an offset) */
    bool gre_options;       /* a GRE header with checksum, key, sequence number or another version */
    bool decapped;          /* wan.decap hit: the outer headers are gone, the labels go on */
    bool transit;           /* wan.decap missed: not for this border, routed by its outer header */
    bool encapped;          /* sr.sid_forward's encap_mpls_in_udp ran */
    bit<16> len_diff;       /* outer total length - UDP length: 20 when the two agree (and for GRE) */
    bit<16> label_bytes;    /* 4 x the labels the parser took */
    bit<16> inner_len;      /* the bytes the outer UDP header will carry: labels on the packet + inner IPv4 */
    bit<16> entropy;        /* wan_entropy_t (14 bits) of the inner 5-tuple's CRC-32 (RFC 7510 3) */
    bit<8> inner_ttl_dec;   /* what a route takes off the inner IPv4 TTL: 1, or 0 for a WAN transit packet */
    ipv4_addr_t route_dst;  /* ipv4.routes' key: the inner IPv4 destination, or the outer one in transit */
    bit<8> route_ttl;       /* and the TTL it checks */
}
#endif

struct ingress_metadata_t {
    bool stack_too_deep;
#if SRCHAIN_SRV6
    bool srh_invalid;       /* the parser met a routing header it does not take (DROP_SRH_INVALID) */
    srv6_local_t srv6;
#endif
    bool checksum_err;
    bool has_l4;
    bit<16> src_port;       /* 0 when the packet has no TCP/UDP header */
    bit<16> dst_port;
    flow_key_t key;
    key_order_t order;
    lb_bucket_t lb_bucket;  /* symmetric CRC-32 of the 5-tuple, low 4 bits: both directions agree */
    drop_reason_t drop_reason;
    local_sid_t ls0;        /* the top label's local SID, if any */
    local_sid_t ls1;        /* the label below it, if local too */
    bit<8> ttl_dec;         /* what forwarding takes off the top label: 1, or 0 after a pop (the pop was the hop) */
    /* Set once the pops are decided: the modules to run. */
    bool run_flow_features;
    sid_t ff_sid;
    bit<16> report_every;
    bool run_priority;
    sid_t prio_sid;
    bool decision_copy;     /* a replicated decision back through this pipe's recirculation port */
    bool decision_fanout;   /* a valid decision being replicated to every pipe (no unicast, no route) */
#if SRCHAIN_L4S
    bool run_l4s;
    sid_t l4s_sid;
#endif
#if SRCHAIN_WAN
    wan_metadata_t wan;
#endif
}

struct egress_metadata_t {
    report_trunc_h trunc;       /* valid on the truncated copy of a finished report */
    MirrorId_t report_session;  /* E2E session of the report's port */
    bit<8> trunc_kind;          /* the mirror header's value: a Tofino 1 mirror field list takes no constants */
}

#endif
